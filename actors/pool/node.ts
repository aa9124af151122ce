/**
 * `PoolNode`: one process's membership of a keyed worker pool (spec/pool.md, PROTOCOL.md).
 *
 * What runs where:
 * - The watchdog actor (watchdog.actor.ts, a runtime thread of its own) writes the node's and its
 *   workers' keep-alives, runs the cleanup sweeps (dead workers and nodes, orphaned payloads, expired
 *   dispatch guards, gone consumers) and, on full nodes, routes (router.ts: the pool stream's consumer
 *   group, the handoffs to worker streams, the `a` → `d` relay). A handler that blocks this thread
 *   stops none of it; a killed process stops all of it.
 * - This thread runs the handlers and the loop that feeds them: one XREAD over the node's stream (the
 *   dispatch returns `d`) and its workers' streams (start, stop, notify), with the ownership claim and
 *   the acks. Rebalancing runs here too, since it calls the handlers' `stop`.
 *
 * A job's way: `dispatchJob` registers a waiter under a fresh dispatch id, then one script claims the
 * key (pending guard), admits it (XLEN < maxQueuedJobs) and XADDs `j`. A router reads it from the
 * group, hands it to `activeWorkers[routeKey(key, n)]`'s stream, and remembers the handoff. The worker
 * claims ownership (`P:jobs`), stores the payload, calls `start`, and acks to the router, which sends
 * the outcome (`d`) to the dispatching node and XACK + XDELs the pool event.
 */
import type { Redis } from 'ioredis'
import { randomUUID } from 'node:crypto'

import { ulid } from 'ulid'

import type { ActorRef } from '../../runtime/actor-ref.js'
import {
  ClosedError,
  coerceError,
  DispatchTimeoutError,
  fromWire,
  InvalidArgumentError,
  JobExistsError,
  PoolShuttingDownError,
  ProtocolError,
  QueueFullError,
  toWire,
  WorkerStartError,
} from '../../runtime/errors.js'
import type { Logger } from '../../runtime/logger.js'
import { Runtime } from '../../runtime/runtime.js'
import { createRedis, redisUrlOf, type PulseRedis } from '../../transports/redis/connection.js'
import {
  type AckRecord,
  decodeAck,
  decodeEnvelope,
  decodeJob,
  decodeJobKey,
  decodeNotification,
  encodeAck,
  encodeEnvelope,
  encodeJob,
  encodeJobKey,
  encodeNotification,
  type JobRecord,
  kPoolEvents,
} from '../../transports/redis/pool/codec.js'
import {
  cleanupMapName,
  jobMapName,
  jobPayloadMapName,
  kNodeStreamMaxLen,
  kPoolSinkName,
  kShutdownField,
  kWorkerRemoving,
  mapKeys,
  nodeKeepAliveMapName,
  nodeStreamName,
  pendingJobMapName,
  poolMapNames,
  poolStreamName,
  shutdownMapName,
  streamKey,
  tickerMapName,
  workerKeepAliveMapName,
  workerMapName,
  workerStreamName,
} from '../../transports/redis/pool/keys.js'
import { claimDispatchKeys, kPoolScripts, mapWrite } from '../../transports/redis/pool/scripts.js'
import { formatUnixNanos, msToUnixNanos, parseWorkerEntry, unixNanosToMs } from '../../transports/redis/pool/values.js'
import { decodeEntry } from '../../transports/redis/streaming/entry.js'
import { ReplicatedMap } from '../rmap/replicated-map.js'
import type { ChangeFeed } from '../rmap/change-feed.js'
import { routeKey } from './jump-hash.js'
import { kReadCount, kWorkerStreamMaxLen, streamEntries } from './router.js'
import { activeWorkers, allJobKeys, type ActiveWorker } from './membership.js'
import { checkJobKey, checkPoolName } from './names.js'
import { poolTimings, resolvePoolOptions, type PoolOptions, type PoolTimings, type ResolvedPoolOptions } from './options.js'
import { Ticker, runSchedule, type Schedule } from './ticker.js'
import type { Job, WorkerHandler, JobProducer, Worker } from './types.js'
import type { WatchdogArgs, WatchdogMsg, WatchdogOut } from './watchdog.actor.js'

const kWatchdogModule = new URL(import.meta.url.endsWith('.ts') ? './watchdog.actor.ts' : './watchdog.actor.js', import.meta.url)

type Payload = Uint8Array | string

interface LocalJob {
  readonly key: string
  readonly payload: Buffer
  readonly createdAtNs: bigint
  readonly nodeId: string
  readonly dispatchId: string | undefined
}

interface LocalWorker {
  readonly id: string
  readonly createdAt: Date
  readonly createdAtNs: bigint
  readonly handler: WorkerHandler
  readonly stream: string
  readonly jobs: Map<string, LocalJob>
  /** Per-key serialization of the worker's operations. */
  readonly chains: Map<string, Promise<void>>
  /** Outcomes of starts by dispatch id: a redelivered `j` gets it instead of a second `start`. */
  readonly outcomes: Map<string, Error | undefined>
  lastId: string
  stopped: boolean
  /** Its `P:workers` entry was written (a missing entry from then on means a cleaner removed it). */
  registered: boolean
}

interface Waiter {
  readonly key: string
  resolve(): void
  reject(error: Error): void
}

/** A handler's "not now": the event is not acknowledged, and comes back after the ack grace period. */
function isRequeue(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'PULSE_ERR_POOL_REQUEUE'
}

const kRequeued = Symbol('requeued')

function nowNs(): bigint {
  return msToUnixNanos(Date.now())
}

function toBuffer(payload: Payload, what: string): Buffer {
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8')
  if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  throw new InvalidArgumentError(`${what} must be a Uint8Array or a string`, { data: { option: what } })
}

function isClosedError(error: unknown): boolean {
  return error instanceof ClosedError
}

export class PoolNode implements AsyncDisposable {
  /** The pool's name. */
  readonly name: string
  /** This node's id (a ULID). */
  readonly id: string
  readonly options: ResolvedPoolOptions
  readonly timings: PoolTimings
  readonly #logger: Logger
  readonly #url: string
  readonly #redis: PulseRedis
  readonly #readers: PulseRedis[] = []
  readonly #maps: ReplicatedMap[] = []
  readonly #feeds: ChangeFeed[] = []
  #shutdownMap!: ReplicatedMap
  #workersMap: ReplicatedMap | undefined
  #keepAliveMap: ReplicatedMap | undefined
  #cleanupMap: ReplicatedMap | undefined
  #jobsMap: ReplicatedMap | undefined
  #payloadsMap: ReplicatedMap | undefined
  #tickersMap: Promise<ReplicatedMap> | undefined
  #runtime: Runtime | undefined
  #watchdog: ActorRef<WatchdogMsg, unknown, WatchdogOut> | undefined
  #retell: NodeJS.Timeout | undefined
  readonly #workers = new Map<string, LocalWorker>()
  readonly #waiters = new Map<string, Waiter>()
  readonly #tickers = new Set<Ticker>()
  readonly #schedules = new Set<Schedule>()
  readonly #loops: Promise<void>[] = []
  readonly #abort = new AbortController()
  #nodeStreamLastId = '0'
  #lastActed: string[] = []
  #state: 'open' | 'closing' | 'closed' = 'open'
  #closing: Promise<void> | undefined
  #shutdown = false
  /** This node asked for the shutdown: it destroys the pool once the others left. */
  #asker = false

  private constructor(name: string, id: string, source: string | Redis, options: ResolvedPoolOptions) {
    this.name = name
    this.id = id
    this.options = options
    this.timings = poolTimings(options)
    this.#logger = options.logger
    this.#url = redisUrlOf(source)
    this.#redis = createRedis(source, { name: 'pulse-pool' })
  }

  /**
   * Joins the pool `name` (full node by default: it runs workers and routes; `clientOnly`: it only
   * dispatches, stops and notifies). Rejects with `PoolShuttingDownError` while the pool shuts down.
   */
  static async join(redis: string | Redis, name: string, options?: PoolOptions): Promise<PoolNode> {
    checkPoolName(name, 'name')
    const resolved = resolvePoolOptions(options)
    const node = new PoolNode(name, ulid(), redis, resolved)
    try {
      await node.#start()
    } catch (error) {
      await node.#releaseNode().catch(() => undefined)
      throw error
    }
    return node
  }

  get clientOnly(): boolean {
    return this.options.clientOnly
  }

  /** Whether the node was closed (or closes), by `close()`, `shutdown()` or a pool shutdown. */
  get closed(): boolean {
    return this.#state !== 'open'
  }

  /** Whether the pool was shut down while this node was in it. */
  get isShutdown(): boolean {
    return this.#shutdown
  }

  async #join(name: string): Promise<ReplicatedMap> {
    const map = await ReplicatedMap.join(this.#redis, name, { logger: this.#logger })
    this.#maps.push(map)
    return map
  }

  async #start(): Promise<void> {
    const pool = this.name
    this.#shutdownMap = await this.#join(shutdownMapName(pool))
    if (this.#shutdownMap.get(kShutdownField) !== undefined) throw new PoolShuttingDownError(`pool ${JSON.stringify(pool)} is shutting down`)
    const full = !this.options.clientOnly
    if (full) {
      ;[this.#workersMap, this.#keepAliveMap, this.#cleanupMap, this.#jobsMap, this.#payloadsMap] = await Promise.all([
        this.#join(workerMapName(pool)),
        this.#join(workerKeepAliveMapName(pool)),
        this.#join(cleanupMapName(pool)),
        this.#join(jobMapName(pool)),
        this.#join(jobPayloadMapName(pool)),
      ])
      try {
        await this.#redis.client.xgroup('CREATE', streamKey(poolStreamName(pool)), kPoolSinkName, '0', 'MKSTREAM')
      } catch (error) {
        if (!String((error as Error).message).includes('BUSYGROUP')) throw error
      }
    }
    // The node stream exists from now on (an `i` entry), and is read from its oldest entry.
    await this.#redis.client.xadd(streamKey(nodeStreamName(pool, this.id)), 'MAXLEN', '~', kNodeStreamMaxLen, '*', 'n', kPoolEvents.init, 'p', this.id)
    this.#runtime = await Runtime.start({ closeTimeoutMs: 5_000 })
    const args: WatchdogArgs = {
      url: this.#url,
      pool,
      nodeId: this.id,
      clientOnly: !full,
      keepAliveEveryMs: this.timings.keepAliveEveryMs,
      sweepEveryMs: this.timings.sweepEveryMs,
      staleAfterMs: this.timings.staleAfterMs,
      orphanGraceMs: this.timings.orphanGraceMs,
      ackGracePeriodMs: this.options.ackGracePeriodMs,
      jobSinkBlockMs: this.options.jobSinkBlockMs,
    }
    const watchdog = (await this.#runtime.spawn<WatchdogMsg, unknown, WatchdogArgs>(kWatchdogModule, { name: `pool-watchdog:${this.id}`, args })) as ActorRef<
      WatchdogMsg,
      unknown,
      WatchdogOut
    >
    watchdog.onMessage((msg) => this.#onWatchdog(msg))
    this.#watchdog = watchdog
    // Told again every keep-alive period: a watchdog restarted by its supervisor gets the list back.
    this.#retell = setInterval(() => {
      watchdog.tell({ t: 'workers', ids: this.#keptAlive() })
    }, this.timings.keepAliveEveryMs)
    const readerRedis = createRedis(this.#redis.client, { name: 'pulse-pool-reader' })
    this.#readers.push(readerRedis)
    this.#loops.push(this.#readLoop(readerRedis))
    if (full) {
      this.#watch(this.#workersMap, 'workers')
      this.#watch(this.#keepAliveMap, 'keepalive')
      this.#watch(this.#cleanupMap, 'keepalive')
      this.#watch(this.#shutdownMap, 'shutdown')
    }
  }

  #watch(map: ReplicatedMap | undefined, what: 'workers' | 'keepalive' | 'shutdown'): void {
    if (map === undefined) return
    const feed = map.subscribe()
    this.#feeds.push(feed)
    void (async () => {
      try {
        for await (const kind of feed) {
          void kind
          if (this.#state !== 'open') continue
          if (what === 'shutdown') {
            if (this.#shutdownMap.get(kShutdownField) !== undefined) void this.#close('shutdown').catch((error: unknown) => this.#log('error', 'pool: shutdown failed', error))
          } else {
            this.#onMembership(what)
          }
        }
      } catch (error) {
        this.#log('warn', 'pool: a map subscription ended', error)
      }
    })()
  }

  #onWatchdog(msg: WatchdogOut): void {
    if (msg.t !== 'log') return
    const fields = { pool: this.name, node: this.id, ...(msg.data ?? {}), ...(msg.error === undefined ? {} : { err: fromWire(msg.error) }) }
    this.#logger[msg.level](fields, msg.message)
  }

  #log(level: 'debug' | 'info' | 'warn' | 'error', message: string, error?: unknown, data?: Record<string, unknown>): void {
    this.#logger[level]({ pool: this.name, node: this.id, ...(data ?? {}), ...(error === undefined ? {} : { err: coerceError(error) }) }, message)
  }

  #assertOpen(what: string): void {
    if (this.#state !== 'open') throw new ClosedError(`cannot ${what}: pool node ${this.id} of ${JSON.stringify(this.name)} is ${this.#state}`)
  }

  #assertFull(what: string): void {
    if (this.options.clientOnly) throw new InvalidArgumentError(`cannot ${what} on a client-only node`, { data: { option: 'options.clientOnly' } })
  }

  #assertNotShuttingDown(): void {
    if (this.#shutdownMap.get(kShutdownField) !== undefined) throw new PoolShuttingDownError(`pool ${JSON.stringify(this.name)} is shutting down`)
  }

  // ------------------------------------------------------------------------------------ membership

  /** The active workers as this node sees them now. */
  #active(): ActiveWorker[] {
    if (this.#workersMap === undefined || this.#keepAliveMap === undefined || this.#cleanupMap === undefined) return []
    return activeWorkers(this.#workersMap.toObject(), this.#keepAliveMap.toObject(), this.#cleanupMap.toObject(), nowNs(), this.timings.staleAfterMs)
  }

  /**
   * Rebalances when the active list changed: on any `P:workers` change, and when a keep-alive or lock
   * change makes a worker active that was not (a keep-alive that lapses changes nothing here: the
   * worker leaves once a cleaner removed it from `P:workers`).
   */
  #onMembership(what: 'workers' | 'keepalive'): void {
    if (what === 'workers') this.#dropRemoved()
    const ids = this.#active().map((w) => w.id)
    if (what === 'keepalive' && ids.every((id) => this.#lastActed.includes(id))) return
    if (ids.join(',') === this.#lastActed.join(',')) return
    this.#lastActed = ids
    for (const worker of this.#workers.values()) {
      if (worker.stopped || !ids.includes(worker.id)) continue
      for (const key of worker.jobs.keys()) {
        if (ids[routeKey(key, ids.length)] !== worker.id) void this.#chain(worker, key, () => this.#move(worker, key))
      }
    }
  }

  /**
   * A local worker that another node removed from `P:workers` (a cleaner judged it dead: its
   * keep-alives did not reach Redis in time) has lost its jobs to their new owners: they are stopped
   * here, without touching the pool's maps, and the worker is dropped (research §3.8, step 1).
   */
  #dropRemoved(): void {
    const map = this.#workersMap
    if (map === undefined) return
    for (const worker of this.#workers.values()) {
      if (worker.stopped || !worker.registered || map.has(worker.id)) continue
      worker.stopped = true
      this.#log('warn', 'pool: a local worker was removed from the pool by a cleaner; its jobs stop here', undefined, { worker: worker.id })
      for (const key of [...worker.jobs.keys()]) {
        void this.#chain(worker, key, async () => {
          worker.jobs.delete(key)
          await worker.handler.stop(key)
        })
      }
      this.#workers.delete(worker.id)
      void this.#tellWorkers().catch(() => undefined)
    }
  }

  /** Stops a job whose bucket moved, releases it (payload kept) and requeues it to its new owner. */
  async #move(worker: LocalWorker, key: string): Promise<void> {
    const job = worker.jobs.get(key)
    if (job === undefined || worker.stopped) return
    const ids = this.#active().map((w) => w.id)
    if (!ids.includes(worker.id) || ids[routeKey(key, ids.length)] === worker.id) return
    await this.#release(worker, job, 'requeue')
  }

  /**
   * Stops a local job and gives it up: `requeue` keeps the payload and XADDs a requeued `j` (original
   * node, creation time and dispatch id); `stop` deletes the payload. A failed requeue restarts the job
   * here (its ownership is claimed again).
   */
  async #release(worker: LocalWorker, job: LocalJob, mode: 'requeue' | 'stop', requeueable = false): Promise<Error | undefined | typeof kRequeued> {
    let failure: Error | undefined
    try {
      await worker.handler.stop(job.key)
    } catch (error) {
      if (requeueable && isRequeue(error)) return kRequeued // the job stays; the stop comes back later
      failure = coerceError(error)
      this.#log('warn', 'pool: a job handler stop failed', error, { worker: worker.id, key: job.key })
    }
    worker.jobs.delete(job.key)
    if (job.dispatchId !== undefined) worker.outcomes.delete(job.dispatchId)
    try {
      await mapWrite(this.#redis, 'remove', jobMapName(this.name), [worker.id, job.key])
      if (mode === 'stop') {
        await mapWrite(this.#redis, 'delete', jobPayloadMapName(this.name), [job.key])
        return failure
      }
      const event = encodeJob({ key: job.key, nodeId: job.nodeId, payload: job.payload, createdAtNs: job.createdAtNs, requeued: true, dispatchId: job.dispatchId })
      await this.#redis.client.xadd(streamKey(poolStreamName(this.name)), '*', 'n', kPoolEvents.startJob, 'p', event)
    } catch (error) {
      if (mode === 'stop') throw error
      this.#log('warn', 'pool: requeuing a job failed; restarting it here', error, { worker: worker.id, key: job.key })
      await this.#startLocal(worker, { ...job, requeued: true }).catch(() => undefined)
      throw error
    }
    return failure
  }

  // ------------------------------------------------------------------------------------ workers

  /** Adds a worker to this node: it gets the jobs of its bucket (those of the others move to it). */
  async addWorker(handler: WorkerHandler): Promise<Worker> {
    this.#assertOpen('addWorker')
    this.#assertFull('addWorker')
    this.#assertNotShuttingDown()
    if (typeof handler !== 'object' || handler === null || typeof handler.start !== 'function' || typeof handler.stop !== 'function') {
      throw new InvalidArgumentError('handler must be an object with start(job) and stop(key)', { data: { option: 'handler' } })
    }
    if (handler.notify !== undefined && typeof handler.notify !== 'function') {
      throw new InvalidArgumentError('handler.notify must be a function when given', { data: { option: 'handler.notify' } })
    }
    const id = ulid()
    const createdAtNs = nowNs()
    const worker: LocalWorker = {
      id,
      createdAt: new Date(unixNanosToMs(createdAtNs)),
      createdAtNs,
      handler,
      stream: streamKey(workerStreamName(id)),
      jobs: new Map(),
      chains: new Map(),
      outcomes: new Map(),
      lastId: '0',
      stopped: false,
      registered: false,
    }
    // The stream exists, the keep-alive is written, then the worker is registered: when other nodes
    // see it in P:workers it is active.
    await this.#redis.client.xadd(worker.stream, 'MAXLEN', '~', kWorkerStreamMaxLen, '*', 'n', kPoolEvents.init, 'p', this.id)
    this.#workers.set(id, worker)
    await this.#tellWorkers()
    await this.#keepAliveMap?.setAndWait(id, formatUnixNanos(nowNs()))
    await this.#workersMap?.setAndWait(id, formatUnixNanos(createdAtNs))
    worker.registered = true
    await this.#wakeReader()
    // This node's router routes to it from now on (its replicas, on the watchdog thread, caught up).
    await this.#watchdog?.ask({ t: 'active', id, timeoutMs: this.timings.staleAfterMs }, { timeoutMs: this.timings.staleAfterMs + 10_000 })
    this.#onMembership('workers')
    return { id, createdAt: worker.createdAt }
  }

  /** Removes a local worker: its jobs are stopped and requeued to the other workers, then it is deregistered. */
  async removeWorker(worker: Worker): Promise<void> {
    this.#assertOpen('removeWorker')
    const local = typeof worker === 'object' && worker !== null ? this.#workers.get(worker.id) : undefined
    if (local === undefined) throw new InvalidArgumentError('worker is not a worker of this node', { data: { option: 'worker' } })
    await this.#retire(local, 'requeue')
  }

  /** This node's workers. */
  workers(): Worker[] {
    return [...this.#workers.values()].filter((w) => !w.stopped).map((w) => ({ id: w.id, createdAt: w.createdAt }))
  }

  /** Every worker registered in the pool (read from Redis), by creation time. */
  async poolWorkers(): Promise<Worker[]> {
    this.#assertOpen('poolWorkers')
    const raw = await this.#redis.client.hgetall(mapKeys(workerMapName(this.name)).content)
    const out: { id: string; ns: bigint }[] = []
    for (const [id, value] of Object.entries(raw)) {
      if (id.startsWith('=')) continue
      const entry = parseWorkerEntry(value)
      if (entry === undefined || entry.removing) continue
      out.push({ id, ns: entry.createdAtNs })
    }
    out.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : a.id < b.id ? -1 : 1))
    return out.map(({ id, ns }) => ({ id, createdAt: new Date(unixNanosToMs(ns)) }))
  }

  /** Every job key owned in the pool (this node's replica of `P:jobs`); empty on a client-only node. */
  jobKeys(): string[] {
    return this.#jobsMap === undefined ? [] : allJobKeys(this.#jobsMap.toObject())
  }

  /** A running job's payload (exact for this node's jobs; from the replica for the others). */
  jobPayload(key: string): Buffer | undefined {
    for (const worker of this.#workers.values()) {
      const job = worker.jobs.get(key)
      if (job !== undefined) return job.payload
    }
    const value = this.#payloadsMap?.get(key)
    return value === undefined ? undefined : Buffer.from(value, 'utf8')
  }

  /** The workers whose keep-alives the watchdog writes: every local one until it is deregistered. */
  #keptAlive(): string[] {
    return [...this.#workers.keys()]
  }

  async #tellWorkers(): Promise<void> {
    await this.#watchdog?.ask({ t: 'workers', ids: this.#keptAlive() }, { timeoutMs: 10_000 })
  }

  /** Makes the blocked XREAD return, so that it reads the new set of streams. */
  async #wakeReader(): Promise<void> {
    await this.#redis.client.xadd(streamKey(nodeStreamName(this.name, this.id)), 'MAXLEN', '~', kNodeStreamMaxLen, '*', 'n', kPoolEvents.init, 'p', this.id)
  }

  #chain(worker: LocalWorker, key: string, task: () => Promise<unknown>): Promise<void> {
    const previous = worker.chains.get(key) ?? Promise.resolve()
    const next: Promise<void> = previous
      .then(task)
      .then(
        () => undefined,
        (error: unknown) => {
          if (!isClosedError(error)) this.#log('warn', 'pool: a worker task failed', error, { worker: worker.id, key })
        },
      )
      .finally(() => {
        if (worker.chains.get(key) === next) worker.chains.delete(key)
      })
    worker.chains.set(key, next)
    return next
  }

  /**
   * Takes a worker out: `requeue` (close, removeWorker) marks it leaving and requeues its jobs,
   * retrying up to `workerShutdownTtlMs`; `stop` (shutdown) stops its jobs and deletes their payloads.
   * Then it is deregistered and its stream destroyed.
   */
  async #retire(worker: LocalWorker, mode: 'requeue' | 'stop'): Promise<void> {
    if (worker.stopped) return
    worker.stopped = true
    const errors: Error[] = []
    if (mode === 'requeue') {
      await this.#workersMap?.setAndWait(worker.id, kWorkerRemoving).catch((error: unknown) => errors.push(coerceError(error)))
      this.#onMembership('workers')
    }
    const deadline = Date.now() + this.options.workerShutdownTtlMs
    for (;;) {
      await Promise.all([...worker.chains.values()])
      const jobs = [...worker.jobs.values()]
      if (jobs.length === 0) break
      const failed: Error[] = []
      await Promise.all(
        jobs.map((job) =>
          this.#chain(worker, job.key, async () => {
            if (!worker.jobs.has(job.key)) return
            try {
              await this.#release(worker, job, mode)
            } catch (error) {
              failed.push(coerceError(error))
            }
          }),
        ),
      )
      if (failed.length === 0) continue
      if (Date.now() >= deadline) {
        errors.push(...failed)
        break
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, this.timings.keepAliveEveryMs)))
    }
    this.#workers.delete(worker.id)
    await this.#tellWorkers().catch((error: unknown) => errors.push(coerceError(error)))
    const pool = this.name
    for (const map of [workerMapName(pool), workerKeepAliveMapName(pool), cleanupMapName(pool), jobMapName(pool)]) {
      await mapWrite(this.#redis, 'delete', map, [worker.id]).catch((error: unknown) => errors.push(coerceError(error)))
    }
    await this.#redis.client.del(worker.stream).catch((error: unknown) => errors.push(coerceError(error)))
    const [only] = errors
    if (errors.length === 1 && only !== undefined) throw only
    if (errors.length > 1) throw new AggregateError(errors, `removing worker ${worker.id} failed`)
  }

  // ------------------------------------------------------------------------------------ dispatch

  /**
   * Starts the job `key` on the worker its key hashes to, and resolves once that worker's `start`
   * resolved. Rejects with `JobExistsError` (running or being dispatched), `QueueFullError`,
   * `DispatchTimeoutError` (no outcome within 2 × ackGracePeriodMs), `WorkerStartError` (the handler's
   * error as `cause`), `PoolShuttingDownError` or `ClosedError`.
   */
  async dispatchJob(key: string, payload: Payload): Promise<void> {
    checkJobKey(key)
    const bytes = toBuffer(payload, 'payload')
    this.#assertOpen('dispatchJob')
    this.#assertNotShuttingDown()
    const dispatchId = randomUUID()
    const now = nowNs()
    const pendingUntil = formatUnixNanos(now + BigInt(this.timings.dispatchTimeoutMs) * 1_000_000n)
    // The waiter exists before anything is written: the `d` cannot come first.
    let waiter!: Waiter
    const outcome = new Promise<void>((resolve, reject) => (waiter = { key, resolve, reject }))
    this.#waiters.set(dispatchId, waiter)
    const job = encodeJob({ key, nodeId: this.id, payload: bytes, createdAtNs: now, requeued: false, dispatchId })
    let timer: NodeJS.Timeout | undefined
    try {
      const reply = (await kPoolScripts.claimDispatch.run(
        this.#redis,
        claimDispatchKeys(jobPayloadMapName(this.name), pendingJobMapName(this.name), streamKey(poolStreamName(this.name))),
        [key, formatUnixNanos(now), pendingUntil, this.options.maxQueuedJobs, job],
      )) as [number, string]
      const [status, detail] = reply
      switch (status) {
        case 1:
          break
        case 2:
          throw new JobExistsError(`job ${JSON.stringify(key)} is already being dispatched`, { data: { key } })
        case 3:
          throw new JobExistsError(`job ${JSON.stringify(key)} is already running`, { data: { key } })
        case 4:
          throw new ProtocolError(`job ${JSON.stringify(key)} has a malformed pending guard ${JSON.stringify(detail)}`, { data: { key, guard: detail } })
        case 5:
          throw new QueueFullError(`pool ${JSON.stringify(this.name)} already holds ${detail} unconsumed events (maxQueuedJobs ${this.options.maxQueuedJobs})`, {
            data: { key, queued: Number(detail), maxQueuedJobs: this.options.maxQueuedJobs },
          })
        default:
          throw new ProtocolError(`unexpected dispatch claim reply ${JSON.stringify(reply)}`)
      }
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new DispatchTimeoutError(`job ${JSON.stringify(key)}: no worker acknowledged the dispatch within ${this.timings.dispatchTimeoutMs} ms`, {
                data: { key, timeoutMs: this.timings.dispatchTimeoutMs },
              }),
            ),
          this.timings.dispatchTimeoutMs,
        )
      })
      await Promise.race([outcome, timeout])
    } finally {
      clearTimeout(timer)
      this.#waiters.delete(dispatchId)
      // Owner-aware release: only this dispatch's guard.
      if (this.#state !== 'closed') {
        await mapWrite(this.#redis, 'testAndDelete', pendingJobMapName(this.name), [key, pendingUntil]).catch(() => undefined)
      }
    }
  }

  /** Asks the job's current owner to stop it (fire-and-forget: resolves once the request is queued). */
  async stopJob(key: string): Promise<void> {
    checkJobKey(key)
    this.#assertOpen('stopJob')
    await this.#redis.client.xadd(streamKey(poolStreamName(this.name)), '*', 'n', kPoolEvents.stopJob, 'p', encodeJobKey(key))
  }

  /** Sends `payload` to the job's current owner's `notify` (fire-and-forget). */
  async notifyWorker(key: string, payload: Payload): Promise<void> {
    checkJobKey(key)
    const bytes = toBuffer(payload, 'payload')
    this.#assertOpen('notifyWorker')
    await this.#redis.client.xadd(streamKey(poolStreamName(this.name)), '*', 'n', kPoolEvents.notify, 'p', encodeNotification({ key, payload: bytes }))
  }

  // ------------------------------------------------------------------------------------ routing

  #onDispatchReturn(ack: AckRecord): void {
    const dispatchId = ack.dispatchId
    const waiter = dispatchId === undefined ? undefined : this.#waiters.get(dispatchId)
    if (waiter === undefined || dispatchId === undefined) {
      this.#log('debug', 'pool: a dispatch return for no waiting dispatch', undefined, { eventId: ack.eventId })
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

  // ------------------------------------------------------------------------------------ node + worker streams

  async #readLoop(redis: PulseRedis): Promise<void> {
    const nodeStream = streamKey(nodeStreamName(this.name, this.id))
    const blockMs = Math.max(1, Math.min(this.options.jobSinkBlockMs, this.timings.workerReadBlockMs))
    const signal = this.#abort.signal
    while (!signal.aborted) {
      try {
        const workers = [...this.#workers.values()].filter((w) => !w.stopped)
        const keys = [nodeStream, ...workers.map((w) => w.stream)]
        const ids = [this.#nodeStreamLastId, ...workers.map((w) => w.lastId)]
        const reply = await redis.blocking().callBuffer('XREAD', 'COUNT', kReadCount, 'BLOCK', blockMs, 'STREAMS', ...keys, ...ids)
        for (const { stream, id, fields } of streamEntries(reply)) {
          const entry = decodeEntry(id, fields)
          if (stream === nodeStream) {
            this.#nodeStreamLastId = id
            if (entry !== undefined) this.#onNodeEvent(entry.name, entry.payload)
            continue
          }
          const worker = workers.find((w) => w.stream === stream)
          if (worker === undefined) continue
          worker.lastId = id
          if (entry !== undefined) this.#onWorkerEvent(worker, id, entry.name, entry.payload)
        }
      } catch (error) {
        if (signal.aborted) break
        this.#log('warn', 'pool: reading the node stream failed', error)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }

  #onNodeEvent(name: string, payload: Buffer): void {
    if (name === kPoolEvents.init) return
    let sender: string
    let ack: AckRecord
    try {
      const envelope = decodeEnvelope(payload)
      sender = envelope.sender
      ack = decodeAck(envelope.payload)
    } catch (error) {
      this.#log('error', 'pool: dropped a malformed node event', error)
      return
    }
    // Acks (`a`) are the router's (watchdog actor), which reads this stream too.
    if (name === kPoolEvents.dispatchReturn) this.#onDispatchReturn(ack)
    void sender
  }

  #onWorkerEvent(worker: LocalWorker, eventId: string, name: string, payload: Buffer): void {
    if (name === kPoolEvents.init || worker.stopped) return
    try {
      const envelope = decodeEnvelope(payload)
      const sender = envelope.sender
      if (name === kPoolEvents.startJob) {
        const job = decodeJob(envelope.payload)
        void this.#chain(worker, job.key, () => this.#onStart(worker, job, eventId, sender))
      } else if (name === kPoolEvents.stopJob) {
        const key = decodeJobKey(envelope.payload)
        void this.#chain(worker, key, () => this.#onStop(worker, key, eventId, sender))
      } else if (name === kPoolEvents.notify) {
        const notification = decodeNotification(envelope.payload)
        void this.#chain(worker, notification.key, () => this.#onNotify(worker, notification.key, Buffer.from(notification.payload), eventId, sender))
      }
    } catch (error) {
      this.#log('error', 'pool: dropped a malformed worker event', error, { worker: worker.id, eventId })
    }
  }

  async #ack(worker: LocalWorker, routingNode: string, eventId: string, error: Error | undefined, jobKey: string, dispatchId?: string): Promise<void> {
    const ack = encodeAck({
      eventId,
      error: error === undefined ? '' : error.message === '' ? error.name : error.message,
      jobKey,
      dispatchId,
      errorRecord: error === undefined ? undefined : toWire(error),
    })
    await this.#redis.client.xadd(
      streamKey(nodeStreamName(this.name, routingNode)),
      'NOMKSTREAM',
      'MAXLEN',
      '~',
      kNodeStreamMaxLen,
      '*',
      'n',
      kPoolEvents.ack,
      'p',
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
    const local: LocalJob = { key: job.key, payload: Buffer.from(job.payload), createdAtNs: job.createdAtNs, nodeId: job.nodeId, dispatchId: job.dispatchId }
    const error = await this.#startLocal(worker, { ...local, requeued: job.requeued })
    // Not the owner, or the handler asked for the event to come back later: no ack.
    if (error === 'not-owner' || isRequeue(error)) return
    if (job.dispatchId !== undefined) {
      worker.outcomes.set(job.dispatchId, error)
      if (worker.outcomes.size > 10_000) {
        const first = worker.outcomes.keys().next()
        if (first.done !== true) worker.outcomes.delete(first.value)
      }
    }
    await this.#ack(worker, sender, eventId, error, job.key, job.dispatchId)
    if (error === undefined) {
      // The membership may have changed while it started.
      const ids = this.#active().map((w) => w.id)
      if (ids.includes(worker.id) && ids[routeKey(job.key, ids.length)] !== worker.id) void this.#chain(worker, job.key, () => this.#move(worker, job.key))
    }
  }

  /** Claims ownership, stores the payload and calls `start`: the error of `start`, or 'not-owner' (no ack). */
  async #startLocal(worker: LocalWorker, job: LocalJob & { requeued: boolean }): Promise<Error | undefined | 'not-owner'> {
    const others = this.#active()
      .map((w) => w.id)
      .filter((id) => id !== worker.id)
    const keys = mapKeys(jobMapName(this.name))
    const owned = await kPoolScripts.claimJob.run(this.#redis, [keys.content, keys.updates], [worker.id, job.key, ...others])
    if (owned !== 1) return 'not-owner'
    try {
      await mapWrite(this.#redis, 'set', jobPayloadMapName(this.name), [job.key, job.payload])
    } catch (error) {
      await mapWrite(this.#redis, 'remove', jobMapName(this.name), [worker.id, job.key]).catch(() => undefined)
      throw error
    }
    worker.jobs.set(job.key, { key: job.key, payload: job.payload, createdAtNs: job.createdAtNs, nodeId: job.nodeId, dispatchId: job.dispatchId })
    let failure: Error | undefined
    try {
      await worker.handler.start({ key: job.key, payload: job.payload, createdAt: new Date(unixNanosToMs(job.createdAtNs)), requeued: job.requeued } satisfies Job)
    } catch (error) {
      failure = coerceError(error)
    }
    if (failure !== undefined) {
      worker.jobs.delete(job.key)
      await mapWrite(this.#redis, 'remove', jobMapName(this.name), [worker.id, job.key]).catch(() => undefined)
      // A fresh job that failed is gone; a requeued one keeps its payload (orphan recovery retries it).
      if (!job.requeued) await mapWrite(this.#redis, 'delete', jobPayloadMapName(this.name), [job.key]).catch(() => undefined)
    }
    return failure
  }

  async #onStop(worker: LocalWorker, key: string, eventId: string, sender: string): Promise<void> {
    const job = worker.jobs.get(key)
    if (job === undefined || worker.stopped) return // not here: the router tries again
    const error = await this.#release(worker, job, 'stop', true)
    if (error === kRequeued) return // not acknowledged: the router sends it again after the grace period
    await this.#ack(worker, sender, eventId, error, key)
  }

  async #onNotify(worker: LocalWorker, key: string, payload: Buffer, eventId: string, sender: string): Promise<void> {
    if (!worker.jobs.has(key) || worker.stopped) return
    let error: Error | undefined
    if (worker.handler.notify === undefined) {
      this.#log('warn', 'pool: the worker has no notify handler; notification dropped', undefined, { worker: worker.id, key })
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

  // ------------------------------------------------------------------------------------ tickers

  #tickers$(): Promise<ReplicatedMap> {
    this.#tickersMap ??= ReplicatedMap.join(this.#redis, tickerMapName(this.name), { logger: this.#logger }).then((map) => {
      this.#maps.push(map)
      return map
    })
    return this.#tickersMap
  }

  /** A ticker shared by the pool: one tick per period across all the nodes that create it. */
  async newTicker(name: string, periodMs: number): Promise<Ticker> {
    this.#assertOpen('newTicker')
    this.#assertFull('newTicker')
    const ticker = await Ticker.open(await this.#tickers$(), this.name, name, periodMs, this.#logger)
    this.#tickers.add(ticker)
    void ticker.done.then(() => this.#tickers.delete(ticker))
    return ticker
  }

  /** Runs `producer.plan()` now, then on each tick of the pool ticker of the producer's name. */
  async schedule(producer: JobProducer, intervalMs: number): Promise<Schedule> {
    this.#assertOpen('schedule')
    this.#assertFull('schedule')
    const schedule = await runSchedule(this, this.#redis, producer, intervalMs, this.#logger)
    this.#schedules.add(schedule)
    return schedule
  }

  // ------------------------------------------------------------------------------------ close

  /** This node leaves the pool: its jobs are stopped and requeued to the other nodes' workers. */
  close(): Promise<void> {
    return this.#close('close')
  }

  /**
   * The whole pool stops: every node stops every job (payloads deleted) and leaves, then this node
   * destroys the pool's maps and stream. `join` works again afterwards.
   */
  async shutdown(): Promise<void> {
    this.#assertFull('shutdown')
    if (this.#state !== 'open') return this.#closing
    this.#asker = true
    await this.#shutdownMap.setAndWait(kShutdownField, this.id)
    return this.#close('shutdown')
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  #close(mode: 'close' | 'shutdown'): Promise<void> {
    this.#closing ??= this.#runClose(mode)
    return this.#closing
  }

  async #runClose(mode: 'close' | 'shutdown'): Promise<void> {
    this.#state = 'closing'
    if (mode === 'shutdown') this.#shutdown = true
    const errors: Error[] = []
    const collect = (error: unknown) => errors.push(coerceError(error))
    for (const schedule of this.#schedules) await schedule.close().catch(collect)
    for (const ticker of this.#tickers) await ticker.close().catch(collect)
    await Promise.all([...this.#workers.values()].map((w) => this.#retire(w, mode === 'close' ? 'requeue' : 'stop').catch(collect)))
    this.#abort.abort()
    for (const reader of this.#readers) await reader.close().catch(() => undefined)
    await Promise.all(this.#loops)
    for (const waiter of this.#waiters.values()) waiter.reject(new ClosedError(`pool node ${this.id} closed while the dispatch of ${JSON.stringify(waiter.key)} waited`))
    this.#waiters.clear()
    if (this.#asker) await this.#destroyPool().catch(collect)
    await this.#releaseNode().catch(collect)
    this.#state = 'closed'
    const [only] = errors
    if (errors.length === 1 && only !== undefined) throw only
    if (errors.length > 1) throw new AggregateError(errors, `closing pool node ${this.id} failed`)
  }

  /** The shutdown asker: once the other nodes' workers left (bounded), the pool's maps and stream go. */
  async #destroyPool(): Promise<void> {
    const deadline = Date.now() + Math.min(this.options.workerShutdownTtlMs, 10_000)
    const workersKey = mapKeys(workerMapName(this.name)).content
    while (Date.now() < deadline) {
      const fields = await this.#redis.client.hkeys(workersKey)
      if (fields.every((f) => f.startsWith('='))) break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    for (const map of poolMapNames(this.name)) await mapWrite(this.#redis, 'destroy', map, [])
    await this.#redis.client.del(streamKey(poolStreamName(this.name)))
  }

  /** Releases what this node holds: feeds, watchdog, node keep-alive and stream, maps, connections. */
  async #releaseNode(): Promise<void> {
    this.#abort.abort()
    clearInterval(this.#retell)
    for (const feed of this.#feeds) void feed.return()
    for (const reader of this.#readers) await reader.close().catch(() => undefined)
    if (this.#watchdog !== undefined) await this.#watchdog.ask({ t: 'stop' }, { timeoutMs: 10_000 }).catch(() => undefined)
    await this.#runtime?.close().catch(() => undefined)
    if (this.#redis.state === 'open') {
      await mapWrite(this.#redis, 'delete', nodeKeepAliveMapName(this.name), [this.id]).catch(() => undefined)
      await this.#redis.client.del(streamKey(nodeStreamName(this.name, this.id))).catch(() => undefined)
    }
    for (const map of this.#maps) await map.close().catch(() => undefined)
    if (this.#tickersMap !== undefined) await (await this.#tickersMap.catch(() => undefined))?.close().catch(() => undefined)
    await this.#redis.close()
  }
}
