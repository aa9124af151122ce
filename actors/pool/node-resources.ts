/**
 * What a node holds while it is in the pool, and lets go of when it leaves: its replicas of the pool's
 * maps (and their change feeds), the watchdog actor on its own runtime thread, the reader connections,
 * and its node stream and keep-alive. Also the views made from them: the active workers, whether the
 * pool shuts down.
 *
 * Its life: `open` (shutdown map first, refused while the pool shuts down; a full node's maps and the
 * pool stream's group; the node stream; the watchdog) → `release` (idempotent; also after a failed
 * `open`, for whatever was opened).
 *
 * The maps are joined, and the watchdog (router included) started, with the pool's key layout; the
 * watchdog connects from `redisUrlOf(source)`, a `redis-cluster://` URL for a cluster.
 */
import type { ActorRef } from '../../runtime/actor-ref.js'
import { fromWire, PoolShuttingDownError } from '../../runtime/errors.js'
import { sleep } from '../../runtime/lifecycle.js'
import { Runtime } from '../../runtime/runtime.js'
import { createRedis, redisUrlOf, type PulseRedis, type RedisSource } from '../../transports/redis/connection.js'
import {
  cleanupMapName,
  jobMapName,
  jobPayloadMapName,
  kPoolSinkName,
  kShutdownField,
  mapKeys,
  nodeKeepAliveMapName,
  nodeStreamName,
  poolMapNames,
  poolStreamName,
  shutdownMapName,
  streamKey,
  tickerMapName,
  workerKeepAliveMapName,
  workerMapName,
} from '../../transports/redis/pool/keys.js'
import { mapWrite } from '../../transports/redis/pool/scripts.js'
import { ReplicatedMap } from '../rmap/replicated-map.js'
import type { ChangeFeed } from '../rmap/change-feed.js'
import { type NodeContext, nowNs } from './context.js'
import { activeWorkers, type ActiveWorker } from './membership.js'
import { addNodeInit } from './streams.js'
import type { WatchdogArgs, WatchdogMsg, WatchdogOut } from './watchdog.actor.js'

const kWatchdogModule = new URL(
  import.meta.url.endsWith('.ts') ? './watchdog.actor.ts' : './watchdog.actor.js',
  import.meta.url,
)

/** A map change that matters to the node: the workers, a keep-alive or cleanup lock, the shutdown. */
export type MapChange = 'workers' | 'keepalive' | 'shutdown'

export class NodeResources {
  readonly #ctx: NodeContext
  /** The workers whose keep-alives the watchdog writes. */
  readonly #keptAlive: () => string[]
  readonly #url: string
  readonly #readers: PulseRedis[] = []
  readonly #maps: ReplicatedMap[] = []
  readonly #feeds: ChangeFeed[] = []
  readonly #abort = new AbortController()
  #shutdownMap!: ReplicatedMap
  #tickersMap: Promise<ReplicatedMap> | undefined
  #runtime: Runtime | undefined
  #ownsRuntime = true
  #watchdog: ActorRef<WatchdogMsg, unknown, WatchdogOut> | undefined
  #retell: NodeJS.Timeout | undefined
  /** A full node's replicas (undefined on a client-only node). */
  workersMap: ReplicatedMap | undefined
  keepAliveMap: ReplicatedMap | undefined
  cleanupMap: ReplicatedMap | undefined
  jobsMap: ReplicatedMap | undefined
  payloadsMap: ReplicatedMap | undefined

  constructor(ctx: NodeContext, source: RedisSource, keptAlive: () => string[]) {
    this.#ctx = ctx
    this.#url = redisUrlOf(source)
    this.#keptAlive = keptAlive
  }

  /** Aborts when the node stops reading its streams. */
  get signal(): AbortSignal {
    return this.#abort.signal
  }

  async #join(name: string): Promise<ReplicatedMap> {
    const { redis, logger, keyLayout } = this.#ctx
    const map = await ReplicatedMap.join(redis, name, { logger, keyLayout })
    this.#maps.push(map)
    return map
  }

  async open(): Promise<void> {
    const { pool, keyLayout: layout, redis } = this.#ctx
    this.#shutdownMap = await this.#join(shutdownMapName(pool, layout))
    this.assertNotShuttingDown()
    if (!this.#ctx.options.clientOnly) {
      ;[this.workersMap, this.keepAliveMap, this.cleanupMap, this.jobsMap, this.payloadsMap] = await Promise.all([
        this.#join(workerMapName(pool, layout)),
        this.#join(workerKeepAliveMapName(pool, layout)),
        this.#join(cleanupMapName(pool, layout)),
        this.#join(jobMapName(pool, layout)),
        this.#join(jobPayloadMapName(pool, layout)),
      ])
      try {
        await redis.client.xgroup('CREATE', streamKey(poolStreamName(pool, layout)), kPoolSinkName, '0', 'MKSTREAM')
      } catch (error) {
        if (!String((error as Error).message).includes('BUSYGROUP')) throw error
      }
    }
    // The node stream exists from now on (an `i` entry), and is read from its oldest entry.
    await addNodeInit(redis, pool, layout, this.#ctx.nodeId)
    await this.#startWatchdog()
  }

  async #startWatchdog(): Promise<void> {
    const { pool, keyLayout, nodeId, options, timings } = this.#ctx
    const { metrics } = options
    this.#ownsRuntime = options.runtime === undefined
    this.#runtime =
      options.runtime ?? (await Runtime.start({ closeTimeoutMs: 5_000, ...(metrics === undefined ? {} : { metrics }) }))
    const args: WatchdogArgs = {
      url: this.#url,
      pool,
      keyLayout,
      nodeId,
      clientOnly: options.clientOnly,
      keepAliveEveryMs: timings.keepAliveEveryMs,
      sweepEveryMs: timings.sweepEveryMs,
      staleAfterMs: timings.staleAfterMs,
      orphanGraceMs: timings.orphanGraceMs,
      ackGracePeriodMs: options.ackGracePeriodMs,
      jobSinkBlockMs: options.jobSinkBlockMs,
    }
    const watchdog = (await this.#runtime.spawn<WatchdogMsg, unknown, WatchdogArgs>(kWatchdogModule, {
      name: `pool-watchdog:${nodeId}`,
      args,
    })) as ActorRef<WatchdogMsg, unknown, WatchdogOut>
    watchdog.onMessage((msg) => this.#onWatchdog(msg))
    this.#watchdog = watchdog
    // Told again every keep-alive period: a watchdog restarted by its supervisor gets the list back.
    this.#retell = setInterval(() => {
      watchdog.tell({ t: 'workers', ids: this.#keptAlive() })
    }, timings.keepAliveEveryMs)
  }

  #onWatchdog(msg: WatchdogOut): void {
    if (msg.t !== 'log') return
    const fields = {
      pool: this.#ctx.pool,
      node: this.#ctx.nodeId,
      ...(msg.data ?? {}),
      ...(msg.error === undefined ? {} : { err: fromWire(msg.error) }),
    }
    this.#ctx.logger[msg.level](fields, msg.message)
  }

  /** Calls `onChange` on each change of the maps a full node watches (nothing on a client-only node). */
  watch(onChange: (what: MapChange) => void): void {
    if (this.#ctx.options.clientOnly) return
    this.#watch(this.workersMap, 'workers', onChange)
    this.#watch(this.keepAliveMap, 'keepalive', onChange)
    this.#watch(this.cleanupMap, 'keepalive', onChange)
    this.#watch(this.#shutdownMap, 'shutdown', onChange)
  }

  #watch(map: ReplicatedMap | undefined, what: MapChange, onChange: (what: MapChange) => void): void {
    if (map === undefined) return
    const feed = map.subscribe()
    this.#feeds.push(feed)
    void (async () => {
      try {
        for await (const kind of feed) {
          void kind
          onChange(what)
        }
      } catch (error) {
        this.#ctx.log('warn', 'pool: a map subscription ended', error)
      }
    })()
  }

  get shuttingDown(): boolean {
    return this.#shutdownMap.get(kShutdownField) !== undefined
  }

  assertNotShuttingDown(): void {
    if (this.shuttingDown) throw new PoolShuttingDownError(`pool ${JSON.stringify(this.#ctx.pool)} is shutting down`)
  }

  /** Asks every node to stop: `P:shutdown[kShutdownField] = nodeId`. */
  async askShutdown(): Promise<void> {
    await this.#shutdownMap.setAndWait(kShutdownField, this.#ctx.nodeId)
  }

  /** The active workers as this node sees them now. */
  activeWorkers(): ActiveWorker[] {
    if (this.workersMap === undefined || this.keepAliveMap === undefined || this.cleanupMap === undefined) return []
    return activeWorkers(
      this.workersMap.toObject(),
      this.keepAliveMap.toObject(),
      this.cleanupMap.toObject(),
      nowNs(),
      this.#ctx.timings.staleAfterMs,
    )
  }

  activeIds(): string[] {
    return this.activeWorkers().map((w) => w.id)
  }

  /** The pool's ticker map, joined on first use. */
  tickersMap(): Promise<ReplicatedMap> {
    const { redis, pool, keyLayout, logger } = this.#ctx
    this.#tickersMap ??= ReplicatedMap.join(redis, tickerMapName(pool, keyLayout), { logger, keyLayout }).then(
      (map) => {
        this.#maps.push(map)
        return map
      },
    )
    return this.#tickersMap
  }

  /** Tells the watchdog the workers whose keep-alives it writes, and waits until it took them. */
  async tellWorkers(): Promise<void> {
    await this.#watchdog?.ask({ t: 'workers', ids: this.#keptAlive() }, { timeoutMs: 10_000 })
  }

  /** Waits until this node's router (its replicas, on the watchdog thread) sees the worker active. */
  async awaitActive(id: string): Promise<void> {
    const { staleAfterMs } = this.#ctx.timings
    await this.#watchdog?.ask({ t: 'active', id, timeoutMs: staleAfterMs }, { timeoutMs: staleAfterMs + 10_000 })
  }

  /**
   * A connection of its own for a blocking reader (its `blocking()`: on a cluster, a Cluster of its own,
   * which sends the read to the master of the pool's slot); closed by `stopReading`.
   */
  newReader(): PulseRedis {
    const reader = createRedis(this.#ctx.redis.client, { name: 'pulse-pool-reader' })
    this.#readers.push(reader)
    return reader
  }

  /** Aborts `signal` and closes the readers' connections. */
  async stopReading(): Promise<void> {
    this.#abort.abort()
    for (const reader of this.#readers) await reader.close().catch(() => undefined)
  }

  /** The shutdown asker: once the other nodes' workers left (bounded), the pool's maps and stream go. */
  async destroyPool(): Promise<void> {
    const { pool, keyLayout: layout, redis, options } = this.#ctx
    const deadline = Date.now() + Math.min(options.workerShutdownTtlMs, 10_000)
    const workersKey = mapKeys(workerMapName(pool, layout), layout).content
    while (Date.now() < deadline) {
      const fields = await redis.client.hkeys(workersKey)
      if (fields.every((f) => f.startsWith('='))) break
      await sleep(20)
    }
    for (const map of poolMapNames(pool, layout)) await mapWrite(redis, 'destroy', map, layout, [])
    await redis.client.del(streamKey(poolStreamName(pool, layout)))
  }

  /** Releases what this node holds: feeds, watchdog, node keep-alive and stream, maps, connections. */
  async release(): Promise<void> {
    const { pool, keyLayout: layout, nodeId, redis } = this.#ctx
    this.#abort.abort()
    clearInterval(this.#retell)
    for (const feed of this.#feeds) void feed.return()
    for (const reader of this.#readers) await reader.close().catch(() => undefined)
    if (this.#watchdog !== undefined)
      await this.#watchdog.ask({ t: 'stop' }, { timeoutMs: 10_000 }).catch(() => undefined)
    if (this.#ownsRuntime) await this.#runtime?.close().catch(() => undefined)
    else await this.#watchdog?.stop().catch(() => undefined)
    if (redis.state === 'open') {
      await mapWrite(redis, 'delete', nodeKeepAliveMapName(pool, layout), layout, [nodeId]).catch(() => undefined)
      await redis.client.del(streamKey(nodeStreamName(pool, nodeId, layout))).catch(() => undefined)
    }
    for (const map of this.#maps) await map.close().catch(() => undefined)
    if (this.#tickersMap !== undefined)
      await (await this.#tickersMap.catch(() => undefined))?.close().catch(() => undefined)
    await redis.close()
  }
}
