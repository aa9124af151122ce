/**
 * The jobs of this node's workers (PROTOCOL.md, "Worker"): the `j`, `s` and `n` events a worker reads,
 * the ownership claim before a start, `start`/`stop`/`notify`, the acks to the routing node, and the
 * release of a job that stops here or moves to another worker (rebalance, close).
 *
 * A job on a worker, per key (its operations run one after the other, `chain`):
 *
 *   absent ──`j`, ownership claimed, payload stored──▶ starting ──`start` resolved──▶ running
 *                                                         └──`start` failed──▶ absent (ownership released;
 *                                                            payload deleted unless requeued)
 *   running ──`s` or shutdown──▶ absent (payload deleted)
 *   running ──bucket moved, close──▶ absent (payload kept, a requeued `j` XADDed; if that fails the job
 *                                    is started here again)
 *
 * A `j` for a key already here, or for a dispatch whose outcome is remembered, is acked without a
 * second `start`. A `RequeueError` from a handler leaves the event unacked (it comes back).
 */
import { ClosedError, coerceError, toWire } from '../../runtime/errors.js'
import {
  decodeEnvelope,
  decodeJob,
  decodeJobKey,
  decodeNotification,
  encodeAck,
  encodeEnvelope,
  encodeJob,
  type JobRecord,
  kPoolEvents,
} from '../../transports/redis/pool/codec.js'
import { jobMapName, jobPayloadMapName, mapKeys, workerMapName } from '../../transports/redis/pool/keys.js'
import { kPoolScripts, mapWrite } from '../../transports/redis/pool/scripts.js'
import { unixNanosToMs } from '../../transports/redis/pool/values.js'
import type { NodeContext } from './context.js'
import { isMisplaced, isRequeue, type LocalJob, type LocalWorker, rememberOutcome } from './local-worker.js'
import { addNodeEvent, addPoolEvent } from './streams.js'
import type { Job } from './types.js'

/** `release`'s answer when `stop` asked for the event to come back: the job stays. */
export const kRequeued = Symbol('requeued')

export class WorkerJobs {
  readonly #ctx: NodeContext
  readonly #activeIds: () => string[]

  /** `activeIds`: the active workers' ids as this node sees them now. */
  constructor(ctx: NodeContext, activeIds: () => string[]) {
    this.#ctx = ctx
    this.#activeIds = activeIds
  }

  /** Runs `task` after the worker's earlier operations on `key`; its failure is logged. */
  chain(worker: LocalWorker, key: string, task: () => Promise<unknown>): Promise<void> {
    const previous = worker.chains.get(key) ?? Promise.resolve()
    const next: Promise<void> = previous
      .then(task)
      .then(
        () => undefined,
        (error: unknown) => {
          if (!(error instanceof ClosedError))
            this.#ctx.log('warn', 'pool: a worker task failed', error, { worker: worker.id, key })
        },
      )
      .finally(() => {
        if (worker.chains.get(key) === next) worker.chains.delete(key)
      })
    worker.chains.set(key, next)
    return next
  }

  /** An entry of the worker's stream: queued behind the worker's operations on its key. */
  onEvent(worker: LocalWorker, eventId: string, name: string, payload: Buffer): void {
    if (name === kPoolEvents.init || worker.stopped) return
    try {
      const envelope = decodeEnvelope(payload)
      const sender = envelope.sender
      if (name === kPoolEvents.startJob) {
        const job = decodeJob(envelope.payload)
        void this.chain(worker, job.key, () => this.#onStart(worker, job, eventId, sender))
      } else if (name === kPoolEvents.stopJob) {
        const key = decodeJobKey(envelope.payload)
        void this.chain(worker, key, () => this.#onStop(worker, key, eventId, sender))
      } else if (name === kPoolEvents.notify) {
        const notification = decodeNotification(envelope.payload)
        void this.chain(worker, notification.key, () =>
          this.#onNotify(worker, notification.key, Buffer.from(notification.payload), eventId, sender),
        )
      }
    } catch (error) {
      this.#ctx.log('error', 'pool: dropped a malformed worker event', error, { worker: worker.id, eventId })
    }
  }

  async #ack(
    worker: LocalWorker,
    routingNode: string,
    eventId: string,
    error: Error | undefined,
    jobKey: string,
    dispatchId?: string,
  ): Promise<void> {
    const ack = encodeAck({
      eventId,
      error: error === undefined ? '' : error.message === '' ? error.name : error.message,
      jobKey,
      dispatchId,
      errorRecord: error === undefined ? undefined : toWire(error),
    })
    await addNodeEvent(
      this.#ctx.redis,
      this.#ctx.pool,
      this.#ctx.keyLayout,
      routingNode,
      kPoolEvents.ack,
      encodeEnvelope({ sender: worker.id, payload: ack }),
    )
  }

  async #onStart(worker: LocalWorker, job: JobRecord, eventId: string, sender: string): Promise<void> {
    if (worker.stopped) return
    if (worker.jobs.has(job.key)) {
      // A redelivery (or another dispatch routed here while it runs): `start` is not called again.
      await this.#ack(worker, sender, eventId, undefined, job.key, job.dispatchId)
      return
    }
    if (job.dispatchId !== undefined && worker.outcomes.has(job.dispatchId)) {
      await this.#ack(worker, sender, eventId, worker.outcomes.get(job.dispatchId), job.key, job.dispatchId)
      return
    }
    const local: LocalJob = {
      key: job.key,
      payload: Buffer.from(job.payload),
      createdAtNs: job.createdAtNs,
      nodeId: job.nodeId,
      dispatchId: job.dispatchId,
    }
    const error = await this.#start(worker, local, job.requeued)
    // Not the owner, or the handler asked for the event to come back later: no ack.
    if (error === 'not-owner' || isRequeue(error)) return
    if (job.dispatchId !== undefined) rememberOutcome(worker, job.dispatchId, error)
    await this.#ack(worker, sender, eventId, error, job.key, job.dispatchId)
    // The membership may have changed while it started.
    if (error === undefined && isMisplaced(this.#activeIds(), worker.id, job.key))
      void this.chain(worker, job.key, () => this.move(worker, job.key))
  }

  /**
   * Claims ownership, stores the payload and calls `start`: the error of `start`, or 'not-owner' (no ack:
   * another registered worker's list holds the key, even one that looks dead to this node, which may be
   * alive and come back with it; the event comes back until that list lets the key go).
   */
  async #start(worker: LocalWorker, job: LocalJob, requeued: boolean): Promise<Error | undefined | 'not-owner'> {
    const { pool, keyLayout, redis } = this.#ctx
    const keys = mapKeys(jobMapName(pool, keyLayout), keyLayout)
    const workers = mapKeys(workerMapName(pool, keyLayout), keyLayout).content
    const owned = await kPoolScripts.claimJob.run(redis, [keys.content, keys.updates, workers], [worker.id, job.key])
    if (owned !== 1) return 'not-owner'
    const payloads = jobPayloadMapName(pool, keyLayout)
    let ranBefore = false
    try {
      // A stored payload means the job was started before: its dispatch event came again after the job moved
      // (its router died before settling it), ahead of the requeue. The handler is told it is requeued.
      if (!requeued) ranBefore = (await redis.client.hexists(mapKeys(payloads, keyLayout).content, job.key)) === 1
      await mapWrite(redis, 'set', payloads, keyLayout, [job.key, job.payload])
    } catch (error) {
      await this.#disown(worker, job.key).catch(() => undefined)
      throw error
    }
    worker.jobs.set(job.key, job)
    let failure: Error | undefined
    try {
      await worker.handler.start({
        key: job.key,
        payload: job.payload,
        createdAt: new Date(unixNanosToMs(job.createdAtNs)),
        requeued: requeued || ranBefore,
      } satisfies Job)
    } catch (error) {
      failure = coerceError(error)
    }
    if (failure !== undefined) {
      worker.jobs.delete(job.key)
      await this.#disown(worker, job.key).catch(() => undefined)
      // A fresh job that failed is gone; a requeued one keeps its payload (orphan recovery retries it).
      if (!requeued) await mapWrite(redis, 'delete', payloads, keyLayout, [job.key]).catch(() => undefined)
    }
    return failure
  }

  /** Removes `key` from the worker's `P:jobs` list. */
  async #disown(worker: LocalWorker, key: string): Promise<void> {
    const { pool, keyLayout, redis } = this.#ctx
    await mapWrite(redis, 'remove', jobMapName(pool, keyLayout), keyLayout, [worker.id, key])
  }

  async #onStop(worker: LocalWorker, key: string, eventId: string, sender: string): Promise<void> {
    const job = worker.jobs.get(key)
    if (job === undefined || worker.stopped) return // not here: the router tries again
    const error = await this.release(worker, job, 'stop', true)
    if (error === kRequeued) return // not acknowledged: the router sends it again after the grace period
    await this.#ack(worker, sender, eventId, error, key)
  }

  async #onNotify(worker: LocalWorker, key: string, payload: Buffer, eventId: string, sender: string): Promise<void> {
    if (!worker.jobs.has(key) || worker.stopped) return
    let error: Error | undefined
    if (worker.handler.notify === undefined) {
      this.#ctx.log('warn', 'pool: the worker has no notify handler; notification dropped', undefined, {
        worker: worker.id,
        key,
      })
    } else {
      try {
        await worker.handler.notify(key, payload)
      } catch (failure) {
        if (isRequeue(failure)) return // not acknowledged: redelivered after the grace period
        error = coerceError(failure)
      }
    }
    await this.#ack(worker, sender, eventId, error, key)
  }

  /** Stops a job whose bucket moved, releases it (payload kept) and requeues it to its new owner. */
  async move(worker: LocalWorker, key: string): Promise<void> {
    const job = worker.jobs.get(key)
    if (job === undefined || worker.stopped) return
    if (!isMisplaced(this.#activeIds(), worker.id, key)) return
    await this.release(worker, job, 'requeue')
  }

  /**
   * Stops a local job and gives it up: `requeue` keeps the payload and XADDs a requeued `j` (original
   * node, creation time and dispatch id); `stop` deletes the payload. A failed requeue restarts the job
   * here (its ownership is claimed again). `requeueable`: a `RequeueError` from `stop` keeps the job.
   */
  async release(
    worker: LocalWorker,
    job: LocalJob,
    mode: 'requeue' | 'stop',
    requeueable = false,
  ): Promise<Error | undefined | typeof kRequeued> {
    const { pool, keyLayout, redis } = this.#ctx
    let failure: Error | undefined
    try {
      await worker.handler.stop(job.key)
    } catch (error) {
      if (requeueable && isRequeue(error)) return kRequeued // the job stays; the stop comes back later
      failure = coerceError(error)
      this.#ctx.log('warn', 'pool: a job handler stop failed', error, { worker: worker.id, key: job.key })
    }
    worker.jobs.delete(job.key)
    if (job.dispatchId !== undefined) worker.outcomes.delete(job.dispatchId)
    try {
      await this.#disown(worker, job.key)
      if (mode === 'stop') {
        await mapWrite(redis, 'delete', jobPayloadMapName(pool, keyLayout), keyLayout, [job.key])
        return failure
      }
      const event = encodeJob({
        key: job.key,
        nodeId: job.nodeId,
        payload: job.payload,
        createdAtNs: job.createdAtNs,
        requeued: true,
        dispatchId: job.dispatchId,
      })
      await addPoolEvent(redis, pool, keyLayout, kPoolEvents.startJob, event)
    } catch (error) {
      if (mode === 'stop') throw error
      this.#ctx.log('warn', 'pool: requeuing a job failed; restarting it here', error, {
        worker: worker.id,
        key: job.key,
      })
      await this.#start(worker, job, true).catch(() => undefined)
      throw error
    }
    return failure
  }
}
