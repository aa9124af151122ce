/**
 * This node's workers (PROTOCOL.md, "Requeue: rebalance, close, remove"): adding one (stream, keep-alive,
 * registration, then active for the router), retiring one (close, removeWorker, shutdown), dropping one
 * a cleaner removed, and rebalancing their jobs when the active list changes. Each worker's life is in
 * local-worker.ts; its jobs' in worker-jobs.ts.
 */
import { coerceError, InvalidArgumentError } from '../../runtime/errors.js'
import { sleep } from '../../runtime/lifecycle.js'
import { kPoolEvents } from '../../transports/redis/pool/codec.js'
import {
  cleanupMapName,
  jobMapName,
  kWorkerRemoving,
  workerKeepAliveMapName,
  workerMapName,
} from '../../transports/redis/pool/keys.js'
import { mapWrite } from '../../transports/redis/pool/scripts.js'
import { formatUnixNanos } from '../../transports/redis/pool/values.js'
import { type NodeContext, nowNs } from './context.js'
import { Failures } from './failures.js'
import { isMisplaced, type LocalWorker, newLocalWorker } from './local-worker.js'
import { poolMetrics } from './metrics.js'
import type { NodeResources } from './node-resources.js'
import { kWorkerStreamMaxLen } from './router.js'
import { addNodeInit } from './streams.js'
import type { WorkerHandler } from './types.js'
import type { WorkerJobs } from './worker-jobs.js'

function checkHandler(handler: WorkerHandler): void {
  if (
    typeof handler !== 'object' ||
    handler === null ||
    typeof handler.start !== 'function' ||
    typeof handler.stop !== 'function'
  ) {
    throw new InvalidArgumentError('handler must be an object with start(job) and stop(key)', {
      data: { option: 'handler' },
    })
  }
  if (handler.notify !== undefined && typeof handler.notify !== 'function') {
    throw new InvalidArgumentError('handler.notify must be a function when given', {
      data: { option: 'handler.notify' },
    })
  }
}

export class LocalWorkers {
  readonly #ctx: NodeContext
  readonly #resources: NodeResources
  readonly #jobs: WorkerJobs
  readonly #workers = new Map<string, LocalWorker>()
  /** The active list the last rebalance acted on. */
  #lastActed: string[] = []
  readonly #rebalances: { inc(): void } | undefined

  constructor(ctx: NodeContext, resources: NodeResources, jobs: WorkerJobs) {
    this.#ctx = ctx
    this.#resources = resources
    this.#jobs = jobs
    const { metrics } = ctx.options
    this.#rebalances = metrics === undefined ? undefined : poolMetrics(metrics).rebalances.labels({ pool: ctx.pool })
  }

  get(id: string): LocalWorker | undefined {
    return this.#workers.get(id)
  }

  /** Every local worker, stopped or not. */
  all(): LocalWorker[] {
    return [...this.#workers.values()]
  }

  /** The workers that take events (not stopped). */
  running(): LocalWorker[] {
    return this.all().filter((w) => !w.stopped)
  }

  /** The workers whose keep-alives the watchdog writes: every local one until it is deregistered. */
  keptAlive(): string[] {
    return [...this.#workers.keys()]
  }

  /** Jobs running on the local workers. */
  jobCount(): number {
    let n = 0
    for (const worker of this.#workers.values()) if (!worker.stopped) n += worker.jobs.size
    return n
  }

  /** A local job's payload. */
  jobPayload(key: string): Buffer | undefined {
    for (const worker of this.#workers.values()) {
      const job = worker.jobs.get(key)
      if (job !== undefined) return job.payload
    }
    return undefined
  }

  /**
   * The stream exists, the keep-alive is written, then the worker is registered: when other nodes see
   * it in P:workers it is active. Resolves once this node's router routes to it.
   */
  async add(handler: WorkerHandler): Promise<LocalWorker> {
    checkHandler(handler)
    const resources = this.#resources
    const worker = newLocalWorker(handler, this.#ctx.pool, this.#ctx.keyLayout)
    await this.#ctx.redis.client.xadd(
      worker.stream,
      'MAXLEN',
      '~',
      kWorkerStreamMaxLen,
      '*',
      'n',
      kPoolEvents.init,
      'p',
      this.#ctx.nodeId,
    )
    this.#workers.set(worker.id, worker)
    await resources.tellWorkers()
    await resources.keepAliveMap?.setAndWait(worker.id, formatUnixNanos(nowNs()))
    await resources.workersMap?.setAndWait(worker.id, formatUnixNanos(worker.createdAtNs))
    worker.registered = true
    // Makes the blocked XREAD return, so that it reads the new set of streams.
    await addNodeInit(this.#ctx.redis, this.#ctx.pool, this.#ctx.keyLayout, this.#ctx.nodeId)
    await resources.awaitActive(worker.id)
    this.onMembership('workers')
    return worker
  }

  /**
   * Rebalances when the active list changed: on any `P:workers` change, and when a keep-alive or lock
   * change makes a worker active that was not (a keep-alive that lapses changes nothing here: the
   * worker leaves once a cleaner removed it from `P:workers`).
   */
  onMembership(what: 'workers' | 'keepalive'): void {
    if (what === 'workers') this.#dropRemoved()
    const ids = this.#resources.activeIds()
    if (what === 'keepalive' && ids.every((id) => this.#lastActed.includes(id))) return
    if (ids.join(',') === this.#lastActed.join(',')) return
    this.#lastActed = ids
    this.#rebalances?.inc()
    for (const worker of this.running()) {
      for (const key of worker.jobs.keys()) {
        if (isMisplaced(ids, worker.id, key)) void this.#jobs.chain(worker, key, () => this.#jobs.move(worker, key))
      }
    }
  }

  /**
   * A local worker that another node removed from `P:workers` (a cleaner judged it dead: its
   * keep-alives did not reach Redis in time) has lost its jobs to their new owners: they are stopped
   * here, without touching the pool's maps, and the worker is dropped, as a Go node drops it.
   */
  #dropRemoved(): void {
    const map = this.#resources.workersMap
    if (map === undefined) return
    for (const worker of this.#workers.values()) {
      if (worker.stopped || !worker.registered || map.has(worker.id)) continue
      worker.stopped = true
      this.#ctx.log(
        'warn',
        'pool: a local worker was removed from the pool by a cleaner; its jobs stop here',
        undefined,
        { worker: worker.id },
      )
      for (const key of [...worker.jobs.keys()]) {
        void this.#jobs.chain(worker, key, async () => {
          worker.jobs.delete(key)
          await worker.handler.stop(key)
        })
      }
      this.#workers.delete(worker.id)
      void this.#resources.tellWorkers().catch(() => undefined)
    }
  }

  /**
   * Takes a worker out: `requeue` (close, removeWorker) marks it leaving and requeues its jobs,
   * retrying up to `workerShutdownTtlMs`; `stop` (shutdown) stops its jobs and deletes their payloads.
   * Then it is deregistered and its stream destroyed.
   */
  async retire(worker: LocalWorker, mode: 'requeue' | 'stop'): Promise<void> {
    if (worker.stopped) return
    worker.stopped = true
    const failures = new Failures()
    if (mode === 'requeue') {
      await this.#resources.workersMap?.setAndWait(worker.id, kWorkerRemoving).catch(failures.add)
      this.onMembership('workers')
    }
    await this.#releaseAll(worker, mode, failures)
    this.#workers.delete(worker.id)
    await this.#resources.tellWorkers().catch(failures.add)
    const { pool, keyLayout: layout } = this.#ctx
    const maps = [workerMapName, workerKeepAliveMapName, cleanupMapName, jobMapName].map((name) => name(pool, layout))
    for (const map of maps) await mapWrite(this.#ctx.redis, 'delete', map, layout, [worker.id]).catch(failures.add)
    await this.#ctx.redis.client.del(worker.stream).catch(failures.add)
    failures.throwIfAny(`removing worker ${worker.id} failed`)
  }

  /** Releases every job of the worker, retrying the failed ones until `workerShutdownTtlMs`. */
  async #releaseAll(worker: LocalWorker, mode: 'requeue' | 'stop', failures: Failures): Promise<void> {
    const deadline = Date.now() + this.#ctx.options.workerShutdownTtlMs
    for (;;) {
      await Promise.all([...worker.chains.values()])
      const jobs = [...worker.jobs.values()]
      if (jobs.length === 0) return
      const failed: Error[] = []
      await Promise.all(
        jobs.map((job) =>
          this.#jobs.chain(worker, job.key, async () => {
            if (!worker.jobs.has(job.key)) return
            await this.#jobs.release(worker, job, mode).catch((error: unknown) => failed.push(coerceError(error)))
          }),
        ),
      )
      if (failed.length === 0) continue
      if (Date.now() >= deadline) {
        failures.addAll(failed)
        return
      }
      await sleep(Math.min(100, this.#ctx.timings.keepAliveEveryMs))
    }
  }
}
