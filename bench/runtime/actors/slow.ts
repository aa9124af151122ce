// A deliberately slow consumer (the memory benchmark): busy-waits `spinUs` per message and counts
// handled messages in a shared counter that the producer reads.
import { defineActor } from '../../../runtime/actor.js'
import { spinFor } from '../workers/spin.js'

export interface SlowArgs {
  readonly spinUs: number
  readonly counter: SharedArrayBuffer
}

export default defineActor<{ spinUs: number; counter: Int32Array }, unknown, SlowArgs>({
  init: (args) => ({ spinUs: args.spinUs, counter: new Int32Array(args.counter) }),
  receive(state) {
    spinFor(state.spinUs)
    Atomics.add(state.counter, 0, 1)
    return state
  },
})
