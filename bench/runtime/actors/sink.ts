// A counting actor: tells are counted; an ask answers { count, rings } and starts a new count.
// `rings` is how many times producers woke this thread (its doorbell's counter), so the caller can
// work out messages per wake-up (0 when the actor runs outside an actor thread, as in breakdown.ts).
import { workerData } from 'node:worker_threads'

import { defineActor } from '../../../runtime/actor.js'
import type { ThreadBoot } from '../../../runtime/protocol.js'
import { Doorbell } from '../../../runtime/ring/doorbell.js'

export interface SinkReport {
  readonly count: number
  readonly rings: number
}

const boot = workerData as ThreadBoot | null
const bell = boot === null ? undefined : new Doorbell(boot.threadBell)

export default defineActor<{ count: number }, unknown>({
  init: () => ({ count: 0 }),
  receive(state, _msg, ctx) {
    if (!ctx.isAsk) {
      state.count++
      return state
    }
    ctx.reply({ count: state.count, rings: bell?.rings ?? 0 } satisfies SinkReport)
    return { count: 0 }
  },
})
