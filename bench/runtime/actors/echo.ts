// Answers every ask with the message it got (the ask round-trip benchmark).
import { defineActor } from '../../../runtime/actor.js'

export default defineActor<null, unknown>({
  init: () => null,
  receive(state, msg, ctx) {
    ctx.reply(msg)
    return state
  },
})
