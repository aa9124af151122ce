/**
 * The `set`s of one tick, sent together. A set joins the queue; at the end of the tick (`process.nextTick`:
 * after the microtasks that made more sets have run) the queue goes out in the order the sets were made, as
 * one `rmapSetMany-2` call (more when it is over `kMaxSets` sets or `kMaxChars` characters of keys and values). The
 * calls of a tick are written at once on the map's command connection, and none waits for an earlier one's
 * reply. Each set still gets its own revision, its own frame on the channel and its own previous value.
 *
 * A map's other writes call `flush()` before they are sent, so that every write reaches Redis in the order
 * it was made. A failed call (connection lost, …) rejects the sets it carried.
 */
import { PulseError } from '../../runtime/errors.js'
import { parseRevision } from '../../transports/redis/rmap/index.js'

/** Sets one `rmapSetMany-2` call carries at most, and the characters of their keys and values (one larger set goes alone). */
export const kMaxSets = 512
export const kMaxChars = 1 << 20

/** What Redis gave a set: the previous value and the revision it committed at. */
export interface SetOutcome {
  readonly prev: string | undefined
  readonly rev: number
}

/** Runs `rmapSetMany-2` with `pairs` (key, value, key, value, …) after the map's leading arguments. */
export type SendSets = (pairs: readonly string[]) => Promise<unknown>

interface Queued {
  readonly key: string
  readonly value: string
  readonly resolve: (outcome: SetOutcome) => void
  readonly reject: (error: unknown) => void
}

export class SetQueue {
  readonly #send: SendSets
  #queued: Queued[] = []
  #scheduled = false

  constructor(send: SendSets) {
    this.#send = send
  }

  /** Sets `key` to `value` with the other sets of this tick. */
  set(key: string, value: string): Promise<SetOutcome> {
    return new Promise<SetOutcome>((resolve, reject) => {
      this.#queued.push({ key, value, resolve, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        process.nextTick(() => this.flush())
      }
    })
  }

  /** Sends every set queued now. */
  flush(): void {
    this.#scheduled = false
    if (this.#queued.length === 0) return
    const queued = this.#queued
    this.#queued = []
    let call: Queued[] = []
    let chars = 0
    for (const set of queued) {
      const size = set.key.length + set.value.length
      if (call.length > 0 && (call.length === kMaxSets || chars + size > kMaxChars)) {
        this.#sendCall(call)
        call = []
        chars = 0
      }
      call.push(set)
      chars += size
    }
    this.#sendCall(call)
  }

  #sendCall(call: readonly Queued[]): void {
    const pairs: string[] = []
    for (const set of call) pairs.push(set.key, set.value)
    let sent: Promise<unknown>
    try {
      sent = this.#send(pairs)
    } catch (error) {
      for (const set of call) set.reject(error)
      return
    }
    sent.then(
      (reply) => {
        if (!Array.isArray(reply) || reply.length !== 3 * call.length) {
          const error = new PulseError('PULSE_ERR_INTERNAL', `rmapSetMany-2 answered ${call.length} sets unexpectedly`)
          for (const set of call) set.reject(error)
          return
        }
        const values = reply as unknown[]
        call.forEach((set, i) => {
          const prev = values[3 * i + 1]
          set.resolve({
            prev: values[3 * i] === 1 && typeof prev === 'string' ? prev : undefined,
            rev: parseRevision(String(values[3 * i + 2])) ?? 0,
          })
        })
      },
      (error: unknown) => {
        for (const set of call) set.reject(error)
      },
    )
  }
}
