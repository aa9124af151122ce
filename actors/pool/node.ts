/**
 * `PoolNode`: one process's membership of a keyed worker pool (PROTOCOL.md). This file holds its public
 * API and its lifecycle; the parts it is made of are:
 * - node-resources.ts: the maps, the watchdog, the connections, the node stream (join and release);
 * - dispatcher.ts: `dispatchJob` (claim, admission, the wait for the start's outcome), `s` and `n`;
 * - local-workers.ts: this node's workers (add, retire, drop, rebalance), local-worker.ts: one of them;
 * - worker-jobs.ts: their jobs (ownership claim, start/stop/notify, acks, release and requeue);
 * - node-reader.ts: the XREAD loop over the node's and its workers' streams that feeds them.
 *
 * What runs where:
 * - The watchdog actor (watchdog.actor.ts, a runtime thread of its own) writes the node's and its
 *   workers' keep-alives, runs the cleanup sweeps (dead workers and nodes, orphaned payloads, expired
 *   dispatch guards, gone consumers) and, on full nodes, routes (router.ts: the pool stream's consumer
 *   group, the handoffs to worker streams, the `a` → `d` relay). A handler that blocks this thread
 *   stops none of it; a killed process stops all of it.
 * - This thread runs the handlers and the loop that feeds them, with the ownership claim and the
 *   acks. Rebalancing runs here too, since it calls the handlers' `stop`.
 *
 * A job's way: `dispatchJob` registers a waiter under a fresh dispatch id, then one script claims the
 * key (pending guard), admits it (XLEN < maxQueuedJobs) and XADDs `j`. A router reads it from the
 * group, hands it to `activeWorkers[routeKey(key, n)]`'s stream, and remembers the handoff. The worker
 * claims ownership (`P:jobs`), stores the payload, calls `start`, and acks to the router, which sends
 * the outcome (`d`) to the dispatching node and XACK + XDELs the pool event.
 *
 * The node's states:
 *
 *   open ──close() / shutdown() / `P:shutdown` set by another node──▶ closing ──▶ closed
 *
 * Closing runs once, in order: schedules and tickers close; the workers retire (`close`: their jobs are
 * requeued; shutdown: stopped, payloads deleted); the reader stops; waiting dispatches reject with
 * `ClosedError`; the shutdown asker destroys the pool; the node's resources are released. Every step
 * runs even after a failure; the failures are thrown at the end.
 */
import { ulid } from 'ulid'

import { ClosedError, InvalidArgumentError } from '../../runtime/errors.js'
import { Closeable } from '../../runtime/lifecycle.js'
import { kMaxTimerMs } from '../../runtime/options.js'
import { createRedis, isClusterSource, type RedisSource } from '../../transports/redis/connection.js'
import { type KeyLayout, resolveKeyLayout } from '../../transports/redis/key-layout.js'
import { mapKeys, workerMapName } from '../../transports/redis/pool/keys.js'
import { parseWorkerEntry, unixNanosToMs } from '../../transports/redis/pool/values.js'
import { type NodeContext, nodeContext } from './context.js'
import { Dispatcher } from './dispatcher.js'
import { Failures } from './failures.js'
import { LocalWorkers } from './local-workers.js'
import { type ActiveWorker, allJobKeys, byCreation } from './membership.js'
import { poolMetrics, type PoolMetrics } from './metrics.js'
import { checkJobKey, checkPoolName } from './names.js'
import { readNodeStreams } from './node-reader.js'
import { type MapChange, NodeResources } from './node-resources.js'
import {
  poolTimings,
  resolvePoolOptions,
  type PoolOptions,
  type PoolTimings,
  type ResolvedPoolOptions,
} from './options.js'
import { Ticker, runSchedule, type Schedule } from './ticker.js'
import type { WorkerHandler, JobProducer, Worker } from './types.js'
import { WorkerJobs } from './worker-jobs.js'

type Payload = Uint8Array | string

function toBuffer(payload: Payload, what: string): Buffer {
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8')
  if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  throw new InvalidArgumentError(`${what} must be a Uint8Array or a string`, { data: { option: what } })
}

export class PoolNode extends Closeable {
  /** The pool's name. */
  readonly name: string
  /** This node's id (a ULID). */
  readonly id: string
  /** The layout of the pool's Redis keys: `options.keyLayout`, else the default for the connection. */
  readonly keyLayout: KeyLayout
  readonly options: ResolvedPoolOptions
  readonly timings: PoolTimings
  readonly #ctx: NodeContext
  readonly #resources: NodeResources
  readonly #dispatcher: Dispatcher
  readonly #jobs: WorkerJobs
  readonly #workers: LocalWorkers
  readonly #tickers = new Set<Ticker>()
  readonly #schedules = new Set<Schedule>()
  #reading: Promise<void> | undefined
  /** How the node closes: leaving (`close`), or with the whole pool (`shutdown`). */
  #mode: 'close' | 'shutdown' = 'close'
  #shutdown = false
  /** This node asked for the shutdown: it destroys the pool once the others left. */
  #asker = false
  readonly #metrics: PoolMetrics | undefined
  #unobserve: (() => void) | undefined

  private constructor(name: string, id: string, source: RedisSource, layout: KeyLayout, options: ResolvedPoolOptions) {
    // Each step of closing is bounded by the pool's own timings.
    super({ name: `pool node ${id} of ${JSON.stringify(name)}`, closeTimeoutMs: kMaxTimerMs })
    this.name = name
    this.id = id
    this.keyLayout = layout
    this.options = options
    this.timings = poolTimings(options)
    const redis = createRedis(source, { name: 'pulse-pool' })
    this.#ctx = nodeContext(name, layout, id, options, this.timings, redis)
    this.#resources = new NodeResources(this.#ctx, source, () => this.#workers.keptAlive())
    this.#dispatcher = new Dispatcher(this.#ctx, () => this.state === 'closed')
    this.#jobs = new WorkerJobs(this.#ctx, () => this.#resources.activeIds())
    this.#workers = new LocalWorkers(this.#ctx, this.#resources, this.#jobs)
    this.#metrics = options.metrics === undefined ? undefined : poolMetrics(options.metrics)
  }

  /**
   * Joins the pool `name` (full node by default: it runs workers and routes; `clientOnly`: it only
   * dispatches, stops and notifies). `redis`: a URL (`redis-cluster://` for a Redis Cluster), an ioredis
   * client or Cluster. Rejects with `PoolShuttingDownError` while the pool shuts down; throws
   * `PULSE_ERR_INVALID_ARG` for `keyLayout: 'compat'` on a cluster, before any connection is made.
   */
  static async join(redis: RedisSource, name: string, options?: PoolOptions): Promise<PoolNode> {
    checkPoolName(name, 'name')
    const resolved = resolvePoolOptions(options)
    const layout = resolveKeyLayout(resolved.keyLayout, isClusterSource(redis))
    const node = new PoolNode(name, ulid(), redis, layout, resolved)
    try {
      await node.#start()
    } catch (error) {
      await node.#resources.release().catch(() => undefined)
      throw error
    }
    return node
  }

  get clientOnly(): boolean {
    return this.options.clientOnly
  }

  /** Whether the node was closed (or closes), by `close()`, `shutdown()` or a pool shutdown. */
  get closed(): boolean {
    return this.state !== 'open'
  }

  /** Whether the pool was shut down while this node was in it. */
  get isShutdown(): boolean {
    return this.#shutdown
  }

  async #start(): Promise<void> {
    await this.#resources.open()
    this.#reading = readNodeStreams(this.#ctx, this.#resources.newReader(), this.#resources.signal, {
      workers: () => this.#workers.running(),
      onWorkerEvent: (worker, eventId, name, payload) => this.#jobs.onEvent(worker, eventId, name, payload),
      onDispatchReturn: (ack) => this.#dispatcher.onReturn(ack),
    })
    this.#resources.watch((what) => this.#onMapChange(what))
    this.#unobserve = this.#metrics?.nodes.add({
      pool: this.name,
      workers: () => this.#workers.running().length,
      jobs: () => this.#workers.jobCount(),
    })
  }

  #onMapChange(what: MapChange): void {
    if (this.state !== 'open') return
    if (what !== 'shutdown') this.#workers.onMembership(what)
    else if (this.#resources.shuttingDown)
      void this.#close('shutdown').catch((error: unknown) => this.#ctx.log('error', 'pool: shutdown failed', error))
  }

  #assertOpen(what: string): void {
    if (this.state !== 'open')
      throw new ClosedError(`cannot ${what}: pool node ${this.id} of ${JSON.stringify(this.name)} is ${this.state}`)
  }

  #assertFull(what: string): void {
    if (this.options.clientOnly)
      throw new InvalidArgumentError(`cannot ${what} on a client-only node`, { data: { option: 'options.clientOnly' } })
  }

  // ------------------------------------------------------------------------------------ workers

  /** Adds a worker to this node: it gets the jobs of its bucket (those of the others move to it). */
  async addWorker(handler: WorkerHandler): Promise<Worker> {
    this.#assertOpen('addWorker')
    this.#assertFull('addWorker')
    this.#resources.assertNotShuttingDown()
    const worker = await this.#workers.add(handler)
    return { id: worker.id, createdAt: worker.createdAt }
  }

  /** Removes a local worker: its jobs are stopped and requeued to the other workers, then it is deregistered. */
  async removeWorker(worker: Worker): Promise<void> {
    this.#assertOpen('removeWorker')
    const local = typeof worker === 'object' && worker !== null ? this.#workers.get(worker.id) : undefined
    if (local === undefined)
      throw new InvalidArgumentError('worker is not a worker of this node', { data: { option: 'worker' } })
    await this.#workers.retire(local, 'requeue')
  }

  /** This node's workers. */
  workers(): Worker[] {
    return this.#workers.running().map((w) => ({ id: w.id, createdAt: w.createdAt }))
  }

  /** Every worker registered in the pool (read from Redis), by creation time. */
  async poolWorkers(): Promise<Worker[]> {
    this.#assertOpen('poolWorkers')
    const layout = this.keyLayout
    const raw = await this.#ctx.redis.client.hgetall(mapKeys(workerMapName(this.name, layout), layout).content)
    const out: ActiveWorker[] = []
    for (const [id, value] of Object.entries(raw)) {
      if (id.startsWith('=')) continue
      const entry = parseWorkerEntry(value)
      if (entry === undefined || entry.removing) continue
      out.push({ id, createdAtNs: entry.createdAtNs })
    }
    return out.sort(byCreation).map(({ id, createdAtNs }) => ({ id, createdAt: new Date(unixNanosToMs(createdAtNs)) }))
  }

  /** Every job key owned in the pool (this node's replica of `P:jobs`); empty on a client-only node. */
  jobKeys(): string[] {
    const jobs = this.#resources.jobsMap
    return jobs === undefined ? [] : allJobKeys(jobs.toObject())
  }

  /** A running job's payload (exact for this node's jobs; from the replica for the others). */
  jobPayload(key: string): Buffer | undefined {
    const local = this.#workers.jobPayload(key)
    if (local !== undefined) return local
    const value = this.#resources.payloadsMap?.get(key)
    return value === undefined ? undefined : Buffer.from(value, 'utf8')
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
    this.#resources.assertNotShuttingDown()
    const metrics = this.#metrics
    if (metrics === undefined) return this.#dispatcher.dispatch(key, bytes)
    try {
      await this.#dispatcher.dispatch(key, bytes)
      metrics.dispatches.inc({ pool: this.name, outcome: 'started' })
    } catch (error) {
      metrics.dispatches.inc({ pool: this.name, outcome: 'failed' })
      throw error
    }
  }

  /** Asks the job's current owner to stop it (fire-and-forget: resolves once the request is queued). */
  async stopJob(key: string): Promise<void> {
    checkJobKey(key)
    this.#assertOpen('stopJob')
    await this.#dispatcher.stop(key)
  }

  /** Sends `payload` to the job's current owner's `notify` (fire-and-forget). */
  async notifyWorker(key: string, payload: Payload): Promise<void> {
    checkJobKey(key)
    const bytes = toBuffer(payload, 'payload')
    this.#assertOpen('notifyWorker')
    await this.#dispatcher.notify(key, bytes)
  }

  // ------------------------------------------------------------------------------------ tickers

  /** A ticker shared by the pool: one tick per period across all the nodes that create it. */
  async newTicker(name: string, periodMs: number): Promise<Ticker> {
    this.#assertOpen('newTicker')
    this.#assertFull('newTicker')
    const ticker = await Ticker.open(await this.#resources.tickersMap(), this.name, name, periodMs, this.#ctx.logger)
    this.#tickers.add(ticker)
    void ticker.done.then(() => this.#tickers.delete(ticker))
    return ticker
  }

  /** Runs `producer.plan()` now, then on each tick of the pool ticker of the producer's name. */
  async schedule(producer: JobProducer, intervalMs: number): Promise<Schedule> {
    this.#assertOpen('schedule')
    this.#assertFull('schedule')
    const schedule = await runSchedule(this, this.#ctx.redis, producer, intervalMs, this.#ctx.logger)
    this.#schedules.add(schedule)
    return schedule
  }

  // ------------------------------------------------------------------------------------ close

  /** This node leaves the pool: its jobs are stopped and requeued to the other nodes' workers. */
  override close(): Promise<void> {
    return this.#close('close')
  }

  /**
   * The whole pool stops: every node stops every job (payloads deleted) and leaves, then this node
   * destroys the pool's maps and stream. `join` works again afterwards.
   */
  async shutdown(): Promise<void> {
    this.#assertFull('shutdown')
    if (this.state !== 'open') return this.#close('shutdown')
    this.#asker = true
    await this.#resources.askShutdown()
    return this.#close('shutdown')
  }

  /** Closes in `mode`, or joins the close under way (whatever its mode). */
  #close(mode: 'close' | 'shutdown'): Promise<void> {
    if (this.state === 'open') this.#mode = mode
    return super.close()
  }

  protected async onClose(): Promise<void> {
    const mode = this.#mode
    this.#unobserve?.()
    if (mode === 'shutdown') this.#shutdown = true
    const failures = new Failures()
    for (const schedule of this.#schedules) await schedule.close().catch(failures.add)
    for (const ticker of this.#tickers) await ticker.close().catch(failures.add)
    await Promise.all(
      this.#workers
        .all()
        .map((w) => this.#workers.retire(w, mode === 'close' ? 'requeue' : 'stop').catch(failures.add)),
    )
    await this.#resources.stopReading()
    await this.#reading
    this.#dispatcher.rejectAll(
      (key) => new ClosedError(`pool node ${this.id} closed while the dispatch of ${JSON.stringify(key)} waited`),
    )
    if (this.#asker) await this.#resources.destroyPool().catch(failures.add)
    await this.#resources.release().catch(failures.add)
    failures.throwIfAny(`closing pool node ${this.id} failed`)
  }
}
