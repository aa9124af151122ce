// An actor module: its default export is the actor. State is a number; messages change or read it.
import { defineActor } from 'pulse-runtime/runtime'

export type CounterMsg = { type: 'add'; n: number } | { type: 'get' } | { type: 'fail' }

export default defineActor<number, CounterMsg, { start: number }>({
  init: ({ start }) => start,
  receive(count, msg, ctx) {
    switch (msg.type) {
      case 'add':
        return count + msg.n
      case 'get':
        ctx.reply(count)
        return count
      case 'fail':
        throw new Error('asked to fail')
    }
  },
})
