/**
 * `Runtime`: the kernel's runtime (runtime/runtime.ts) as the one object a service starts. Given
 * `redis` and `postgres`, it hands out every feature bound to its actor threads:
 *
 *   rt.jobs              the JobQueue on `postgres`; its dispatcher, watchdog and scheduler on rt's threads
 *   await rt.map(name)   the replicated map, held by one replica actor per map (rmap/replica.ts)
 *   rt.stream(name)      a Stream whose sinks run their reader actors on rt's threads
 *   await rt.pool(name)  a PoolNode whose watchdog actor runs on rt's threads
 *   await rt.bus(opts)   the Bus; rt.busServer(opts) serves it over HTTP
 *
 * - One Redis connection (the runtime's, or the caller's client; a Redis Cluster too) and one `pg.Pool`
 *   (the queue's, or the caller's) serve every feature; features open more only where the protocol
 *   needs a connection of its own (blocking reads, subscriptions, actor threads).
 * - Maps, streams and pools get the runtime's `keyLayout` (cluster on a cluster, else compat; a
 *   feature's own option overrides it); `compat` with a cluster is refused by `start`.
 * - The same name asked twice gives the same object; only the first call's options count.
 * - `close()` closes the features in reverse order of creation, then the connections it made, then the
 *   actors (the kernel's close), all within `closeTimeoutMs`. A feature asked for while the runtime
 *   closes is refused with `ClosedError` (one whose creation was under way is closed at once).
 */
import { ClosedError, coerceError, InvalidArgumentError } from '../../runtime/errors.js'
import type { MetricsRegistry } from '../../runtime/metrics.js'
import { Runtime as KernelRuntime, type RuntimeOptions as KernelRuntimeOptions } from '../../runtime/runtime.js'
import type { ActorStats } from '../../runtime/stats.js'
import { createRedis, type PulseRedis, redisUrlOf } from '../../transports/redis/connection.js'
import type { KeyLayout } from '../../transports/redis/key-layout.js'
import { Bus } from '../bus/bus.js'
import type { BusOptions } from '../bus/options.js'
import { BusServer, type BusServerOptions } from '../bus/server.js'
import { JobQueue } from '../jobs/queue.js'
import { PoolNode } from '../pool/node.js'
import type { PoolOptions } from '../pool/options.js'
import { type AttachedReplicatedMap, rmapReplica, type RmapReplicaOptions } from '../rmap/replica.js'
import type { StreamOptions } from '../streaming/options.js'
import { Stream } from '../streaming/stream.js'
import { type FeatureSources, type RuntimeOptions, splitRuntimeOptions } from './options.js'

interface Closeable {
  close(): Promise<void>
}

/** Options of `rt.map`: the replica's; the logger and metrics are the runtime's. */
export type RuntimeMapOptions = Omit<RmapReplicaOptions, 'logger' | 'metrics'>
/** Options of `rt.stream`: the stream's; the logger, metrics and runtime are the runtime's. */
export type RuntimeStreamOptions = Omit<StreamOptions, 'logger' | 'metrics' | 'runtime'>
/** Options of `rt.pool`: the node's; the logger, metrics and runtime are the runtime's. */
export type RuntimePoolOptions = Omit<PoolOptions, 'logger' | 'metrics' | 'runtime'>
/** Options of `rt.bus`: the bus's; the logger and metrics are the runtime's. */
export type RuntimeBusOptions = Omit<BusOptions, 'logger' | 'metrics'>
/** Options of `rt.busServer`: the server's; it serves `rt.bus()`. */
export type RuntimeBusServerOptions = Omit<BusServerOptions, 'bus'>

/** What `rt.stats().features` holds: read from memory, no I/O. */
export interface RuntimeFeatureStats {
  /** The queue's worker: jobs held, running and unacked (absent without `postgres`). */
  readonly jobs?: { readonly held: number; readonly running: number; readonly unacked: number }
  readonly maps: Readonly<Record<string, { readonly size: number; readonly revision: number }>>
  readonly streams: readonly string[]
  readonly pools: Readonly<Record<string, { readonly workers: number; readonly jobs: number }>>
  readonly bus: boolean
}

/** `rt.stats()`: the kernel's per-actor array, with the features' figures as `features`. */
export type RuntimeStats = ActorStats[] & { readonly features: RuntimeFeatureStats }

export class Runtime extends KernelRuntime {
  readonly #sources: FeatureSources
  readonly #metrics: MetricsRegistry | undefined
  readonly #owned: Closeable[] = []
  readonly #pending = new Set<Promise<unknown>>()
  readonly #maps = new Map<string, Promise<AttachedReplicatedMap>>()
  readonly #mapsReady = new Map<string, AttachedReplicatedMap>()
  readonly #streams = new Map<string, Stream>()
  readonly #pools = new Map<string, Promise<PoolNode>>()
  readonly #poolsReady = new Map<string, PoolNode>()
  #bus: Promise<Bus> | undefined
  #redis: PulseRedis | undefined
  #jobs: JobQueue | undefined
  #closing = false

  protected constructor(kernel: KernelRuntimeOptions, sources: FeatureSources) {
    super(kernel)
    this.#sources = sources
    this.#metrics = kernel.metrics
  }

  /**
   * Starts the kernel, connects Redis (a PING) and PostgreSQL (the queue's migrations), then resolves.
   * An already-aborted `signal` rejects with its reason; aborting it later closes the runtime.
   */
  static override async start(options: RuntimeOptions = {}): Promise<Runtime> {
    const { sources, kernel } = splitRuntimeOptions(options)
    kernel.signal?.throwIfAborted()
    const rt = new Runtime(kernel, sources)
    try {
      await rt.#connect()
      kernel.signal?.throwIfAborted()
    } catch (error) {
      await rt.close().catch(() => undefined)
      throw error
    }
    return rt
  }

  /** The job queue on the runtime's database. Throws `PULSE_ERR_INVALID_ARG` without `postgres`. */
  get jobs(): JobQueue {
    if (this.#jobs === undefined)
      throw new InvalidArgumentError('rt.jobs needs the postgres option of Runtime.start', {
        data: { option: 'postgres' },
      })
    return this.#jobs
  }

  /** The replicated map `name`, joined once per runtime (its replica actor on a thread of the runtime). */
  map(name: string, options: RuntimeMapOptions = {}): Promise<AttachedReplicatedMap> {
    return this.#once(this.#maps, this.#mapsReady, name, 'map', (url) =>
      rmapReplica(this, url, name, { ...this.#common(), ...this.#layout(), ...options }),
    )
  }

  /** The stream `name`; its sinks run their reader actors on the runtime's threads. */
  stream(name: string, options: RuntimeStreamOptions = {}): Stream {
    const redis = this.#redisFor('stream')
    let stream = this.#streams.get(name)
    if (stream === undefined) {
      stream = this.#adopt(
        new Stream(redis.client, name, { ...this.#common(), ...this.#layout(), ...options, runtime: this }),
      )
      this.#streams.set(name, stream)
    }
    return stream
  }

  /** This runtime's node of the pool `name` (its watchdog actor on a thread of the runtime). */
  pool(name: string, options: RuntimePoolOptions = {}): Promise<PoolNode> {
    return this.#once(this.#pools, this.#poolsReady, name, 'pool', () =>
      PoolNode.join(this.#redisFor('pool').client, name, {
        ...this.#common(),
        ...this.#layout(),
        ...options,
        runtime: this,
      }),
    )
  }

  /** The runtime's bus; the first call names its `namespaces`, later calls may pass nothing. */
  bus(options?: RuntimeBusOptions): Promise<Bus> {
    const redis = this.#redisFor('bus')
    if (this.#bus === undefined) {
      if (options === undefined)
        throw new InvalidArgumentError('the first rt.bus() call needs options with namespaces', {
          data: { option: 'options.namespaces' },
        })
      const bus = this.#track(Bus.connect(redis, { ...this.#common(), ...options }))
      this.#bus = bus
      bus.catch(() => {
        if (this.#bus === bus) this.#bus = undefined
      })
    }
    return this.#bus
  }

  /** Serves `rt.bus()` over HTTP (the bus API of bus/server.ts); closed with the runtime. */
  async busServer(options: RuntimeBusServerOptions = {}): Promise<BusServer> {
    this.assertOpen('busServer')
    const bus = await this.bus()
    return this.#track(BusServer.listen({ ...options, bus }))
  }

  /** The kernel's per-actor stats, with the features' as `features`. */
  override async stats(): Promise<RuntimeStats> {
    const actors = await super.stats()
    return Object.assign(actors, { features: this.#featureStats() })
  }

  protected override async closeOwned(): Promise<void> {
    this.#closing = true
    await Promise.allSettled([...this.#pending])
    const errors: Error[] = []
    for (const owned of this.#owned.splice(0).reverse())
      await owned.close().catch((error: unknown) => errors.push(coerceError(error)))
    await this.#redis?.close().catch((error: unknown) => errors.push(coerceError(error)))
    const [first] = errors
    if (errors.length === 1 && first !== undefined) throw first
    if (errors.length > 1) throw new AggregateError(errors, 'closing the runtime features failed')
  }

  async #connect(): Promise<void> {
    const { redis, postgres, jobs } = this.#sources
    if (redis !== undefined) {
      this.#redis = createRedis(redis, { name: 'pulse-runtime' })
      await this.#redis.client.ping()
    }
    if (postgres !== undefined) {
      const queue = this.#track(JobQueue.connect({ ...jobs, ...this.#common(), pg: postgres, runtime: this }))
      this.#jobs = await queue
    }
  }

  #common(): { logger?: NonNullable<FeatureSources['logger']>; metrics?: MetricsRegistry } {
    const { logger } = this.#sources
    return {
      ...(logger === undefined ? {} : { logger }),
      ...(this.#metrics === undefined ? {} : { metrics: this.#metrics }),
    }
  }

  /** The runtime's key layout, for the features that have one (maps, streams, pools). */
  #layout(): { keyLayout?: KeyLayout } {
    const { keyLayout } = this.#sources
    return keyLayout === undefined ? {} : { keyLayout }
  }

  #redisFor(feature: string): PulseRedis {
    this.assertOpen(feature)
    if (this.#redis === undefined)
      throw new InvalidArgumentError(`rt.${feature}() needs the redis option of Runtime.start`, {
        data: { option: 'redis' },
      })
    return this.#redis
  }

  /** The object made once per name: concurrent first calls share one creation; a failed one is forgotten. */
  #once<T extends Closeable>(
    made: Map<string, Promise<T>>,
    ready: Map<string, T>,
    name: string,
    feature: string,
    create: (redisUrl: string) => Promise<T>,
  ): Promise<T> {
    const url = redisUrlOf(this.#redisFor(feature).client)
    const existing = made.get(name)
    if (existing !== undefined) return existing
    const creation = this.#track(create(url)).then((value) => {
      ready.set(name, value)
      return value
    })
    made.set(name, creation)
    creation.catch(() => {
      if (made.get(name) === creation) made.delete(name)
    })
    return creation
  }

  /** Owns what a creation resolves to (closed at `close()`), or closes it when the runtime is closing. */
  #track<T extends Closeable>(creation: Promise<T>): Promise<T> {
    const adopted = creation.then((value) => this.#adoptLate(value))
    this.#pending.add(adopted)
    const forget = (): void => void this.#pending.delete(adopted)
    adopted.then(forget, forget)
    return adopted
  }

  async #adoptLate<T extends Closeable>(value: T): Promise<T> {
    if (!this.#closing) return this.#adopt(value)
    await value.close().catch(() => undefined)
    throw new ClosedError('the runtime closed while a feature was being made')
  }

  #adopt<T extends Closeable>(value: T): T {
    this.#owned.push(value)
    return value
  }

  #featureStats(): RuntimeFeatureStats {
    const maps: Record<string, { size: number; revision: number }> = {}
    for (const [name, map] of this.#mapsReady) if (!map.closed) maps[name] = { size: map.size, revision: map.revision }
    const pools: Record<string, { workers: number; jobs: number }> = {}
    for (const [name, node] of this.#poolsReady)
      if (!node.closed) pools[name] = { workers: node.workers().length, jobs: node.jobKeys().length }
    return {
      ...(this.#jobs === undefined ? {} : { jobs: this.#jobs.load }),
      maps,
      streams: [...this.#streams.keys()],
      pools,
      bus: this.#bus !== undefined,
    }
  }
}
