/**
 * The dispatch side of a node (PROTOCOL.md, "Dispatch"): `dispatchJob`'s claim and admission script,
 * the wait for the start's outcome (`d`), its timeout; and the client's `s` and `n` events.
 *
 * A dispatch, by its dispatch id:
 *
 *   waiting ──claim script refuses (exists, malformed guard, queue full)──▶ rejected
 *      │
 *      └─ claimed ──`d`, no error──────────▶ resolved
 *            ├──────`d` with an error──────▶ rejected (WorkerStartError, the handler's error as cause)
 *            ├──────dispatchTimeoutMs──────▶ rejected (DispatchTimeoutError)
 *            └──────the node closes────────▶ rejected (ClosedError)
 *
 * The waiter exists before anything is written, so the `d` cannot come first. Every way out deletes
 * the waiter; a claimed dispatch then releases the pending guard only if it still holds its
 * `pendingUntil` (and the node is not closed). A refused one releases nothing: two dispatches in one
 * millisecond compute the same `pendingUntil`, and the loser must not delete the winner's guard. A `d` for no waiting dispatch is dropped.
 */
import { randomUUID } from 'node:crypto'

import {
  DispatchTimeoutError,
  fromWire,
  JobExistsError,
  ProtocolError,
  QueueFullError,
  WorkerStartError,
} from '../../runtime/errors.js'
import { withTimeout } from '../../runtime/lifecycle.js'
import {
  type AckRecord,
  encodeJob,
  encodeJobKey,
  encodeNotification,
  kPoolEvents,
} from '../../transports/redis/pool/codec.js'
import { jobPayloadMapName, pendingJobMapName, poolStreamName, streamKey } from '../../transports/redis/pool/keys.js'
import { claimDispatchKeys, kPoolScripts, mapWrite } from '../../transports/redis/pool/scripts.js'
import { formatUnixNanos } from '../../transports/redis/pool/values.js'
import { type NodeContext, nowNs } from './context.js'
import { addPoolEvent } from './streams.js'

interface Waiter {
  readonly key: string
  resolve(): void
  reject(error: Error): void
}

export class Dispatcher {
  readonly #ctx: NodeContext
  readonly #isClosed: () => boolean
  readonly #waiters = new Map<string, Waiter>()

  constructor(ctx: NodeContext, isClosed: () => boolean) {
    this.#ctx = ctx
    this.#isClosed = isClosed
  }

  /** Claims, admits and enqueues the job, then waits for its start's outcome. */
  async dispatch(key: string, payload: Buffer): Promise<void> {
    const { pool, keyLayout, nodeId, timings, redis } = this.#ctx
    const dispatchId = randomUUID()
    const now = nowNs()
    const pendingUntil = formatUnixNanos(now + BigInt(timings.dispatchTimeoutMs) * 1_000_000n)
    let waiter!: Waiter
    const outcome = new Promise<void>((resolve, reject) => (waiter = { key, resolve, reject }))
    this.#waiters.set(dispatchId, waiter)
    const job = encodeJob({ key, nodeId, payload, createdAtNs: now, requeued: false, dispatchId })
    let claimed = false
    try {
      await this.#claim(key, now, pendingUntil, job)
      claimed = true
      await withTimeout(outcome, timings.dispatchTimeoutMs, () => this.#timedOut(key))
    } finally {
      this.#waiters.delete(dispatchId)
      // Owner-aware release: only a guard this dispatch wrote, and only while it still holds its value. A
      // refused dispatch releases nothing: in the same millisecond its pendingUntil equals the winner's.
      if (claimed && !this.#isClosed())
        await mapWrite(redis, 'testAndDelete', pendingJobMapName(pool, keyLayout), keyLayout, [
          key,
          pendingUntil,
        ]).catch(() => undefined)
    }
  }

  /** The claim and admission script: resolves once the `j` is queued, throws why it was refused. */
  async #claim(key: string, now: bigint, pendingUntil: string, job: Buffer): Promise<void> {
    const { pool, keyLayout, options, redis } = this.#ctx
    const reply = (await kPoolScripts.claimDispatch.run(
      redis,
      claimDispatchKeys(
        jobPayloadMapName(pool, keyLayout),
        pendingJobMapName(pool, keyLayout),
        streamKey(poolStreamName(pool, keyLayout)),
        keyLayout,
      ),
      [key, formatUnixNanos(now), pendingUntil, options.maxQueuedJobs, job],
    )) as [number, string]
    const [status, detail] = reply
    switch (status) {
      case 1:
        return
      case 2:
        throw new JobExistsError(`job ${JSON.stringify(key)} is already being dispatched`, { data: { key } })
      case 3:
        throw new JobExistsError(`job ${JSON.stringify(key)} is already running`, { data: { key } })
      case 4:
        throw new ProtocolError(`job ${JSON.stringify(key)} has a malformed pending guard ${JSON.stringify(detail)}`, {
          data: { key, guard: detail },
        })
      case 5:
        throw new QueueFullError(
          `pool ${JSON.stringify(pool)} already holds ${detail} unconsumed events (maxQueuedJobs ${options.maxQueuedJobs})`,
          {
            data: { key, queued: Number(detail), maxQueuedJobs: options.maxQueuedJobs },
          },
        )
      default:
        throw new ProtocolError(`unexpected dispatch claim reply ${JSON.stringify(reply)}`)
    }
  }

  #timedOut(key: string): DispatchTimeoutError {
    const timeoutMs = this.#ctx.timings.dispatchTimeoutMs
    return new DispatchTimeoutError(
      `job ${JSON.stringify(key)}: no worker acknowledged the dispatch within ${timeoutMs} ms`,
      { data: { key, timeoutMs } },
    )
  }

  /** A `d` from a router: settles its dispatch, if one still waits. */
  onReturn(ack: AckRecord): void {
    const dispatchId = ack.dispatchId
    const waiter = dispatchId === undefined ? undefined : this.#waiters.get(dispatchId)
    if (waiter === undefined || dispatchId === undefined) {
      this.#ctx.log('debug', 'pool: a dispatch return for no waiting dispatch', undefined, { eventId: ack.eventId })
      return
    }
    this.#waiters.delete(dispatchId)
    if (ack.error === '' && ack.errorRecord === undefined) {
      waiter.resolve()
      return
    }
    const cause = ack.errorRecord === undefined ? new Error(ack.error) : fromWire(ack.errorRecord)
    const code = (cause as { code?: unknown }).code
    waiter.reject(
      new WorkerStartError(`job ${JSON.stringify(waiter.key)}: the worker's start failed: ${cause.message}`, {
        cause,
        data: { key: waiter.key, ...(typeof code === 'string' ? { causeCode: code } : {}) },
      }),
    )
  }

  /** The node closes: every waiting dispatch rejects with `error(key)`. */
  rejectAll(error: (key: string) => Error): void {
    for (const waiter of this.#waiters.values()) waiter.reject(error(waiter.key))
    this.#waiters.clear()
  }

  /** Asks the job's current owner to stop it. */
  async stop(key: string): Promise<void> {
    await addPoolEvent(this.#ctx.redis, this.#ctx.pool, this.#ctx.keyLayout, kPoolEvents.stopJob, encodeJobKey(key))
  }

  /** Sends `payload` to the job's current owner's `notify`. */
  async notify(key: string, payload: Buffer): Promise<void> {
    const { redis, pool, keyLayout } = this.#ctx
    await addPoolEvent(redis, pool, keyLayout, kPoolEvents.notify, encodeNotification({ key, payload }))
  }
}
