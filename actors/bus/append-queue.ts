/**
 * The puts of one tick, sent together. A put joins its namespace's queue; at the end of the tick
 * (`process.nextTick`: after the microtasks that made more puts have run) each queue goes out in the
 * order the puts were made: each run of puts without confirmations as one `busAppend-4` call (more when
 * it is over `kMaxEvents` events or `kMaxBytes` of payload), each put that wants confirmations as its own
 * `busPut-5`. All the calls of a tick are written at once on the one command connection, so Redis
 * runs them (and the puts inside them) in that order, and none waits for an earlier one's reply.
 *
 * Each put keeps its own outcome: a batch is all or nothing, a duplicate key refuses its put only
 * (`DuplicateEventError`), and a failed call (connection lost, …) rejects the puts it carried.
 */
import type { Redis } from 'ioredis'

import { DuplicateEventError, isPulseError, PulseError } from '../../runtime/errors.js'
import type { BusEntryFields } from '../../transports/redis/bus/entry.js'
import { putArgs } from '../../transports/redis/bus/entry.js'
import type { BusKeys } from '../../transports/redis/bus/keys.js'
import { busAppend, busPut } from '../../transports/redis/bus/scripts.js'
import type { ResolvedBusOptions } from './options.js'

/** Events and payload bytes one `busAppend-4` call carries at most (a single larger put goes alone). */
export const kMaxEvents = 512
export const kMaxBytes = 1 << 20

/** The confirmations a put waits for: its inbox's hash is created with it. */
export interface Confirmation {
  readonly inbox: string
  readonly want: number
  readonly ttlMs: number
}

/** What Redis gave a put: its events' entry ids and the namespace's counter after the last of them. */
export interface Appended {
  readonly entryIds: readonly string[]
  readonly seq: number
}

export interface AppendHost {
  readonly client: Redis
  readonly keys: BusKeys
  readonly options: Pick<ResolvedBusOptions, 'dedupTtlMs' | 'maxLen' | 'maxAgeMs'>
}

interface Queued {
  readonly events: readonly BusEntryFields[]
  readonly confirm: Confirmation | undefined
  readonly resolve: (appended: Appended) => void
  readonly reject: (error: unknown) => void
}

export class AppendQueue {
  readonly #host: AppendHost
  readonly #queues = new Map<string, Queued[]>()
  #scheduled = false

  constructor(host: AppendHost) {
    this.#host = host
  }

  /** Appends `events` to `ns` (all or nothing) with the other puts of this tick. */
  append(ns: string, events: readonly BusEntryFields[], confirm?: Confirmation): Promise<Appended> {
    return new Promise<Appended>((resolve, reject) => {
      let queue = this.#queues.get(ns)
      if (queue === undefined) {
        queue = []
        this.#queues.set(ns, queue)
      }
      queue.push({ events, confirm, resolve, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        process.nextTick(() => this.flush())
      }
    })
  }

  /** Sends every put queued now. */
  flush(): void {
    this.#scheduled = false
    for (const [ns, queue] of this.#queues) {
      this.#queues.delete(ns)
      this.#send(ns, queue)
    }
  }

  #send(ns: string, queue: readonly Queued[]): void {
    let run: Queued[] = []
    for (const put of queue) {
      if (put.confirm === undefined) {
        run.push(put)
        continue
      }
      this.#sendRun(ns, run)
      run = []
      this.#putConfirmed(ns, put, put.confirm)
    }
    this.#sendRun(ns, run)
  }

  /** Sends a run of puts without confirmations in as few calls as `kMaxEvents` and `kMaxBytes` allow. */
  #sendRun(ns: string, run: readonly Queued[]): void {
    let call: Queued[] = []
    let events = 0
    let bytes = 0
    for (const put of run) {
      let size = 0
      for (const event of put.events) size += event.payload.length
      if (call.length > 0 && (events + put.events.length > kMaxEvents || bytes + size > kMaxBytes)) {
        this.#appendRun(ns, call)
        call = []
        events = bytes = 0
      }
      call.push(put)
      events += put.events.length
      bytes += size
    }
    if (call.length > 0) this.#appendRun(ns, call)
  }

  #keys(ns: string): string[] {
    const keys = this.#host.keys
    return [keys.log(ns), keys.ids(ns), keys.seq(ns), keys.dedup(ns)]
  }

  #appendRun(ns: string, run: readonly Queued[]): void {
    const { dedupTtlMs, maxLen, maxAgeMs } = this.#host.options
    const args: (string | Buffer | number)[] = [dedupTtlMs, maxLen, maxAgeMs, run.length]
    for (const put of run) {
      args.push(put.events.length)
      for (const event of put.events) for (const value of putArgs(event)) args.push(value)
    }
    busAppend.run(this.#host.client, this.#keys(ns), args).then(
      (reply) => {
        if (!Array.isArray(reply) || reply.length !== run.length) {
          const error = new PulseError('PULSE_ERR_INTERNAL', `busAppend-4 answered ${run.length} puts unexpectedly`)
          for (const put of run) put.reject(error)
          return
        }
        run.forEach((put, i) => settle(put, reply[i]))
      },
      (error: unknown) => {
        for (const put of run) put.reject(error)
      },
    )
  }

  #putConfirmed(ns: string, put: Queued, confirm: Confirmation): void {
    const keys = [...this.#keys(ns), this.#host.keys.confirm(ns, confirm.inbox)]
    const { dedupTtlMs, maxLen, maxAgeMs } = this.#host.options
    const args: (string | Buffer | number)[] = [
      dedupTtlMs,
      confirm.want,
      confirm.ttlMs,
      put.events.length,
      maxLen,
      maxAgeMs,
    ]
    for (const event of put.events) args.push(...putArgs(event))
    busPut.run(this.#host.client, keys, args).then(
      (reply) => {
        const values = reply as (string | number)[]
        put.resolve({ entryIds: values.slice(0, -1) as string[], seq: Number(values[values.length - 1]) })
      },
      (error: unknown) => {
        const duplicate =
          isPulseError(error) && error.data?.reply === 'DUPLICATE' ? /DUPLICATE (\d+) /.exec(error.message) : null
        put.reject(duplicate === null ? error : duplicateError(put.events, Number(duplicate[1])))
      },
    )
  }
}

/** Settles one put of a `busAppend-4` call from its part of the reply. */
function settle(put: Queued, reply: unknown): void {
  if (!Array.isArray(reply) || reply.length < 2) {
    put.reject(new PulseError('PULSE_ERR_INTERNAL', 'busAppend-4 answered a put unexpectedly'))
  } else if (reply[0] === 'DUPLICATE') {
    put.reject(duplicateError(put.events, Number(reply[1])))
  } else {
    put.resolve({ entryIds: reply.slice(1) as string[], seq: Number(reply[0]) })
  }
}

function duplicateError(events: readonly BusEntryFields[], i: number): Error {
  const event = events[i]
  return new DuplicateEventError('key was processed before', {
    data: { subject: event?.subject ?? '', key: event?.key ?? '', item: i },
  })
}
