/**
 * `ReplicatedMap`: a read-optimised, eventually consistent string map shared by every process that joins
 * it (Redis layout and frames of goa.design/pulse v1.6.5: docs/redis-layout.md, "Maps").
 *
 * The hash `map:<name>:content` is the truth. Every write is one Lua script (`transports/redis/rmap`)
 * that mutates it, bumps `=rev`, sets `=kind` and publishes a frame on `map:<name>:updates`. Each
 * replica keeps a local copy, so reads never touch Redis, and keeps it current from the frames.
 *
 * How the copy stays exact — the state machine of the frame handler (`#mode`):
 *
 *   'buffer'   a (re)load is under way: frames are queued.
 *   'lenient'  the snapshot is installed; frames with rev ≤ the local rev are ignored: they were
 *              published before the snapshot was read but reach us after it (the pub/sub socket and
 *              the command socket are not ordered with each other).
 *   'strict'   PING on the pub/sub connection came back after the load (`barrier()`): every frame
 *              published before the snapshot has been seen, and Redis delivers a channel's messages in
 *              publication order, which is revision order. A frame with rev ≤ the local rev now means
 *              the counter went backwards — the hash was deleted (DEL, TTL, FLUSHDB, data loss) and
 *              recreated from rev 1 — and the replica reloads. (v1.6.5 ignores such frames until the
 *              counter overtakes its old value: docs/redis-layout.md, "Revisions".)
 *   'down'     the pub/sub connection dropped: reads go on from the last copy; when it is back, the
 *              replica subscribes again and reloads.
 *
 * In the cluster layout a frame more than one revision ahead of the local copy (lenient or strict) means
 * frames were lost on the way between the cluster's nodes, and the replica reloads as well.
 *
 * A (re)load: [subscribe,] HGETALL, install it (rev and all), apply the queued frames newer than it,
 * notify subscribers once with the strongest kind of what changed, release the `setAndWait` callers
 * it covers, then go lenient and fence with the barrier. A reload whose rev is lower than the local
 * one (or without `=rev` while the local one is > 0) is a regression too: the snapshot wins and the
 * notification is `'reset'`.
 */

import {
  ClosedError,
  InvalidArgumentError,
  PulseError,
  RedisCommandError,
  RedisConnectionError,
} from '../../runtime/errors.js'
import { abortable, Lifecycle, sleep, throwIfAborted } from '../../runtime/lifecycle.js'
import { checkInteger } from '../../runtime/options.js'
import {
  createRedis,
  isClusterClient,
  isClusterSource,
  isRedisClient,
  PulseRedis,
  reconnectDelayMs,
} from '../../transports/redis/connection.js'
import {
  contentKey,
  decodeFrame,
  kMapScripts,
  MapSubscription,
  parseRevision,
  updatesChannel,
} from '../../transports/redis/rmap/index.js'
import type { MapFrame, StoredKind } from '../../transports/redis/rmap/index.js'
import type { RedisScript, ScriptArg } from '../../transports/redis/scripts.js'
import { ChangeFeed, strongerKind } from './change-feed.js'
import type { ChangeFeedOptions, MapEventKind } from './change-feed.js'
import { parseListValue } from './list-value.js'
import { mapMetrics } from './metrics.js'
import { type KeyLayout, resolveKeyLayout } from '../../transports/redis/key-layout.js'
import { checkMapKey, checkMapName, checkMapValue, resolveReplicatedMapOptions } from './options.js'
import type { ReplicatedMapLogger, ReplicatedMapOptions, ResolvedReplicatedMapOptions } from './options.js'
import { RevisionWaiters } from './revision-waiters.js'
import { isReserved, type LoadReason, parseSnapshot, type Snapshot, strongerReason } from './hash-content.js'
import type { RedisSource, RemoveValuesResult, ReplicatedMapStats, SetAndWaitOptions } from './types.js'

export type { RedisSource, RemoveValuesResult, ReplicatedMapStats, SetAndWaitOptions } from './types.js'

type Mode = 'buffer' | 'lenient' | 'strict' | 'down' | 'closed'

/** Frames queued during a load beyond this are dropped, and another load follows. */
const kMaxQueuedFrames = 100_000
/** Bound of a graceful `close()`. */
const kCloseTimeoutMs = 5_000
/** Backoff of failed reloads (HGETALL or SUBSCRIBE failing while Redis is down). */
const kRetryMinMs = 100
const kRetryMaxMs = 5_000

function noop(): void {}

/** `Array.isArray` without narrowing the argument to `any[]`. */
function isArray(value: unknown): boolean {
  return Array.isArray(value)
}

export class ReplicatedMap implements AsyncDisposable {
  readonly name: string
  /** Where the map's keys are (`compat` or `cluster`; transports/redis/key-layout.ts). */
  readonly keyLayout: KeyLayout
  readonly #redis: PulseRedis
  readonly #ownsRedis: boolean
  readonly #source: RedisSource
  readonly #keys: readonly [string, string]
  readonly #ttlArgs: readonly [string, string]
  readonly #logger: ReplicatedMapLogger
  readonly #lifecycle: Lifecycle
  readonly #subscription: MapSubscription
  readonly #feeds = new Set<ChangeFeed>()
  readonly #waiters = new RevisionWaiters()

  #content = new Map<string, string>()
  #rev = 0
  #mode: Mode = 'buffer'
  #queued: MapFrame[] = []
  #overflowed = false
  /** Bumped when the pub/sub connection drops: a load that straddles a drop is void. */
  #connection = 0
  #loadReason: LoadReason | undefined
  #loading: Promise<void> | undefined
  #stats = { applied: 0, ignored: 0, malformed: 0, loads: 0, regressions: 0, reconnects: 0, gaps: 0 }
  /** This map's counters, with `options.metrics` (metrics.ts). */
  readonly #counted: { writes: { inc(): void }; applied: { inc(): void } } | undefined
  #unobserve: (() => void) | undefined

  private constructor(
    redis: PulseRedis,
    ownsRedis: boolean,
    source: RedisSource,
    name: string,
    options: ResolvedReplicatedMapOptions,
  ) {
    this.name = name
    this.#redis = redis
    this.#ownsRedis = ownsRedis
    this.#source = source
    const layout = resolveKeyLayout(options.keyLayout, redis.cluster)
    this.keyLayout = layout
    this.#keys = [contentKey(name, layout), updatesChannel(name, layout)]
    this.#ttlArgs = options.ttlMs > 0 ? [String(options.ttlMs), 'absolute'] : [String(options.slidingTtlMs), 'sliding']
    this.#logger = options.logger
    const metrics = options.metrics === undefined ? undefined : mapMetrics(options.metrics)
    this.#counted =
      metrics === undefined
        ? undefined
        : { writes: metrics.writes.labels({ map: name }), applied: metrics.applied.labels({ map: name }) }
    this.#lifecycle = new Lifecycle({
      name: `rmap ${JSON.stringify(name)}`,
      closeTimeoutMs: kCloseTimeoutMs,
      onClose: () => this.#shutdown(false),
      onDestroy: () => this.#shutdown(true),
    })
    this.#subscription = new MapSubscription(redis.client, this.#keys[1], {
      onFrame: (payload) => this.#onFrame(payload),
      onDown: () => this.#onDown(),
      onUp: () => this.#onUp(),
      onError: (err) => this.#logger.debug({ map: this.name, err }, 'rmap: pub/sub connection error'),
    })
  }

  /**
   * Joins the map `name`: subscribes to its updates, loads its content, and keeps a local copy
   * current until `close()`. Rejects with `PULSE_ERR_INVALID_ARG` for a bad name or option, with the
   * signal's reason on abort, and with a Redis error when Redis cannot be reached.
   */
  static async join(redis: RedisSource, name: string, options?: ReplicatedMapOptions): Promise<ReplicatedMap> {
    return ReplicatedMap.#open(redis, name, options, false)
  }

  /**
   * @internal A handle that only WRITES (for `rmapReplica`, whose reads come from a runtime actor's
   * replica): it never subscribes nor loads, so its reads see an empty map. `close()` drops its connection.
   */
  static async writeOnly(redis: RedisSource, name: string, options?: ReplicatedMapOptions): Promise<ReplicatedMap> {
    return ReplicatedMap.#open(redis, name, options, true)
  }

  static async #open(
    redis: RedisSource,
    name: string,
    options: ReplicatedMapOptions | undefined,
    writeOnly: boolean,
  ): Promise<ReplicatedMap> {
    checkMapName(name)
    const resolved = resolveReplicatedMapOptions(options)
    resolveKeyLayout(resolved.keyLayout, isClusterSource(redis)) // refused before any connection is made
    throwIfAborted(resolved.signal)
    let connection: PulseRedis
    let owns: boolean
    if (redis instanceof PulseRedis) {
      connection = redis
      owns = false
    } else if (typeof redis === 'string' || isRedisClient(redis) || isClusterClient(redis)) {
      connection = createRedis(redis, { name: 'pulse-rmap' })
      owns = true
    } else {
      throw new InvalidArgumentError('redis must be a Redis URL, an ioredis client or a PulseRedis', {
        data: { option: 'redis' },
      })
    }
    const map = new ReplicatedMap(connection, owns, redis, name, resolved)
    if (writeOnly) {
      map.#mode = 'closed' // never subscribes: no frames, no load; writes work until close()
      return map
    }
    try {
      await abortable(map.#join(), resolved.signal)
      if (resolved.metrics !== undefined)
        map.#unobserve = mapMetrics(resolved.metrics).copies.add([name, () => map.#content.size])
    } catch (error) {
      await map.#lifecycle.destroy().catch(noop)
      throw error
    }
    map.#logger.info({ map: name, revision: map.#rev, size: map.#content.size }, 'rmap: joined')
    return map
  }

  // ---------------------------------------------------------------- reads (local, never touch Redis)

  get(key: string): string | undefined {
    return this.#content.get(key)
  }

  /** The list stored at `key` (a JSON array; a legacy comma-separated value is read too). */
  getValues(key: string): string[] | undefined {
    const value = this.#content.get(key)
    return value === undefined ? undefined : parseListValue(value)
  }

  has(key: string): boolean {
    return this.#content.has(key)
  }

  keys(): string[] {
    return [...this.#content.keys()]
  }

  get size(): number {
    return this.#content.size
  }

  /** A copy of the content. */
  toObject(): Record<string, string> {
    return Object.fromEntries(this.#content)
  }

  /** The revision (`=rev`) the local copy holds. */
  get revision(): number {
    return this.#rev
  }

  get closed(): boolean {
    return this.#lifecycle.state !== 'open'
  }

  get stats(): ReplicatedMapStats {
    return { revision: this.#rev, size: this.#content.size, ...this.#stats }
  }

  // ---------------------------------------------------------------- writes (one Lua script each)

  /** Sets `key`; resolves with the previous value. The local copy catches up one pub/sub hop later. */
  async set(key: string, value: string): Promise<string | undefined> {
    return (await this.#set('set', key, value)).prev
  }

  /**
   * Sets `key` and resolves once the LOCAL copy holds that revision or a later one, so that `get(key)`
   * right after shows the write (or a later one). Resolves with the previous value.
   */
  async setAndWait(key: string, value: string, options: SetAndWaitOptions = {}): Promise<string | undefined> {
    const signal = options.signal
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new InvalidArgumentError('options.signal must be an AbortSignal', { data: { option: 'options.signal' } })
    }
    throwIfAborted(signal)
    const before = this.#rev
    const loads = this.#stats.loads
    const { prev, rev } = await abortable(this.#set('setAndWait', key, value), signal)
    if (rev <= before && this.#stats.loads === loads) {
      // Our write committed at a revision this copy had already passed before we sent it: the counter
      // went backwards under us (the hash was lost). Reload; the load covers this write.
      const waiting = this.#waiters.wait(Number.POSITIVE_INFINITY, signal)
      this.#regression(`setAndWait committed rev ${rev}, the replica held rev ${before} before`)
      await waiting
    } else if (this.#rev < rev) {
      await this.#waiters.wait(rev, signal)
    }
    return prev
  }

  /** Sets `key` only if it does not exist; resolves with whether it did. */
  async setIfNotExists(key: string, value: string): Promise<boolean> {
    checkMapKey(key)
    checkMapValue(value, 'value')
    const rev = await this.#run('setIfNotExists', kMapScripts.setIfNotExists, [key, value])
    return rev !== null
  }

  /** Sets `key` only if its value is `test` (a missing key never matches); resolves with the previous value. */
  async testAndSet(key: string, test: string, value: string): Promise<string | undefined> {
    checkMapKey(key)
    checkMapValue(test, 'test')
    checkMapValue(value, 'value')
    const [existed, prev] = (await this.#run('testAndSet', kMapScripts.testAndSet, [key, test, value])) as [
      number,
      string,
      string,
    ]
    return existed === 1 ? prev : undefined
  }

  /** Adds `delta` to the integer at `key` (missing counts as 0); resolves with the result. */
  async inc(key: string, delta = 1): Promise<number> {
    checkMapKey(key)
    checkInteger(delta, 'delta')
    let reply: [string, string]
    try {
      reply = (await this.#run('inc', kMapScripts.incr, [key, delta])) as [string, string]
    } catch (error) {
      if (
        error instanceof PulseError &&
        error.code === 'PULSE_ERR_REDIS_COMMAND' &&
        /not an integer|overflow/.test(error.message)
      ) {
        const why = error.message.includes('overflow')
          ? 'the result would overflow a 64-bit integer'
          : 'its value is not an integer'
        throw new RedisCommandError(`rmap ${JSON.stringify(this.name)}: cannot inc ${JSON.stringify(key)}: ${why}`, {
          cause: error,
          data: { map: this.name, key, reply: 'ERR', retryable: false },
        })
      }
      throw error
    }
    return Number(reply[0])
  }

  /** Appends `items` to the list at `key`; resolves with the list. */
  async appendValues(key: string, ...items: string[]): Promise<string[]> {
    checkMapKey(key)
    items.forEach((item, i) => checkMapValue(item, `items[${i}]`))
    const reply = (await this.#run('appendValues', kMapScripts.append, [key, ...items])) as string | null
    return reply === null ? [] : parseListValue(reply)
  }

  /** Appends the `items` the list at `key` lacks, keeping its order; resolves with the list. */
  async appendUniqueValues(key: string, ...items: string[]): Promise<string[]> {
    checkMapKey(key)
    items.forEach((item, i) => checkMapValue(item, `items[${i}]`))
    const reply = (await this.#run('appendUniqueValues', kMapScripts.appendUnique, [key, ...items])) as string | null
    return reply === null ? [] : parseListValue(reply)
  }

  /** Removes every occurrence of `items` from the list at `key`; deletes the key when the list empties. */
  async removeValues(key: string, ...items: string[]): Promise<RemoveValuesResult> {
    checkMapKey(key)
    items.forEach((item, i) => checkMapValue(item, `items[${i}]`))
    const reply = (await this.#run('removeValues', kMapScripts.remove, [key, ...items])) as [number, string?, string?]
    switch (reply[0]) {
      case 0:
        return { remaining: undefined, removed: false }
      case 1:
        return { remaining: parseListValue(reply[1] ?? ''), removed: false }
      case 2:
        return { remaining: parseListValue(reply[1] ?? ''), removed: true }
      default:
        return { remaining: undefined, removed: true }
    }
  }

  /** Deletes `key`; resolves with its previous value. */
  async delete(key: string): Promise<string | undefined> {
    checkMapKey(key)
    const prev = (await this.#run('delete', kMapScripts.delete, [key])) as string | null
    return prev ?? undefined
  }

  /** Deletes `key` only if its value is `test`; resolves with the previous value (deleted or not). */
  async testAndDelete(key: string, test: string): Promise<string | undefined> {
    checkMapKey(key)
    checkMapValue(test, 'test')
    const prev = (await this.#run('testAndDelete', kMapScripts.testAndDelete, [key, test])) as string | null
    return prev ?? undefined
  }

  /**
   * Empties the map if every `keys[i]` holds `tests[i]`; with empty arrays, unconditionally. Resolves
   * with whether it did.
   */
  async testAndReset(keys: readonly string[], tests: readonly string[]): Promise<boolean> {
    if (!isArray(keys)) throw new InvalidArgumentError('keys must be an array of keys', { data: { option: 'keys' } })
    if (!isArray(tests))
      throw new InvalidArgumentError('tests must be an array of values', { data: { option: 'tests' } })
    if (keys.length !== tests.length) {
      throw new InvalidArgumentError(
        `keys and tests must have the same length (got ${keys.length} and ${tests.length})`,
        { data: { option: 'tests' } },
      )
    }
    keys.forEach((key, i) => checkMapKey(key, `keys[${i}]`))
    tests.forEach((test, i) => checkMapValue(test, `tests[${i}]`))
    const rev = await this.#run('testAndReset', kMapScripts.testAndReset, [keys.length, ...keys, ...tests])
    return rev !== null
  }

  /** Empties the map (the hash keeps its revision). Allowed after `close()`. */
  async reset(): Promise<void> {
    await this.#run('reset', kMapScripts.reset, [], { afterClose: true })
  }

  /** Deletes the map, leaving the tombstone {=rev, =kind: destroy}. Allowed after `close()`. */
  async destroy(): Promise<void> {
    await this.#run('destroy', kMapScripts.destroy, [], { afterClose: true })
  }

  // ---------------------------------------------------------------- notifications and lifecycle

  /**
   * A coalescing async iterable of what changed: `'change' | 'delete' | 'reset'` (`destroy()` is a
   * `'reset'`). A reader that lags sees one notification, of the strongest kind, for everything that
   * happened meanwhile; it never holds up writers. Re-read the map on each. The iteration ends when
   * the map closes or the loop breaks; `signal` ends it with the signal's reason.
   */
  subscribe(options: ChangeFeedOptions = {}): ChangeFeed {
    if (this.#lifecycle.state !== 'open') throw this.#closedError('subscribe')
    const feed = new ChangeFeed((f) => this.#feeds.delete(f), options)
    if (!feed.done) this.#feeds.add(feed)
    return feed
  }

  /**
   * Stops replicating: ends the subscriptions, rejects pending `setAndWait`, drops the pub/sub
   * connection (and the Redis connection, when `join` made it). Reads keep the last copy; writes
   * reject with `ClosedError`, except `reset()` and `destroy()`. Idempotent.
   */
  close(): Promise<void> {
    return this.#lifecycle.close()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  // ---------------------------------------------------------------- internals: writes

  #closedError(operation: string): ClosedError {
    return new ClosedError(`rmap ${JSON.stringify(this.name)} is stopped: cannot ${operation} after close()`, {
      data: { map: this.name, operation },
    })
  }

  async #set(operation: string, key: string, value: string): Promise<{ prev: string | undefined; rev: number }> {
    checkMapKey(key)
    checkMapValue(value, 'value')
    const [existed, prev, rev] = (await this.#run(operation, kMapScripts.set, [key, value])) as [number, string, string]
    return { prev: existed === 1 ? prev : undefined, rev: parseRevision(rev) ?? 0 }
  }

  async #run(
    operation: string,
    script: RedisScript,
    args: readonly ScriptArg[],
    { afterClose = false } = {},
  ): Promise<unknown> {
    const open = this.#lifecycle.state === 'open'
    if (!open && !afterClose) throw this.#closedError(operation)
    this.#counted?.writes.inc()
    if (open) return script.run(this.#redis, this.#keys, [...this.#ttlArgs, ...args])
    // reset() and destroy() after close(): through the caller's client, or a short-lived one.
    if (typeof this.#source !== 'string') return script.run(this.#source, this.#keys, [...this.#ttlArgs, ...args])
    const redis = createRedis(this.#source, { name: 'pulse-rmap' })
    try {
      return await script.run(redis, this.#keys, [...this.#ttlArgs, ...args])
    } finally {
      await redis.close()
    }
  }

  // ---------------------------------------------------------------- internals: replication

  async #join(): Promise<void> {
    await this.#subscription.subscribe()
    const connection = this.#connection
    await this.#load('join')
    if (connection !== this.#connection || this.#mode === 'down') {
      throw new RedisConnectionError(
        `rmap ${JSON.stringify(this.name)}: the pub/sub connection dropped during the join`,
      )
    }
  }

  /** (A method, so that TypeScript does not narrow `#mode` across awaits.) */
  #isClosed(): boolean {
    return this.#mode === 'closed'
  }

  #onFrame(payload: Buffer): void {
    const frame = decodeFrame(payload)
    if (typeof frame === 'string') {
      this.#stats.malformed += 1
      this.#logger.warn(
        { map: this.name, reason: frame, bytes: payload.length },
        'rmap: malformed update frame ignored',
      )
      return
    }
    switch (this.#mode) {
      case 'buffer':
        if (this.#queued.length >= kMaxQueuedFrames) {
          this.#queued = []
          this.#overflowed = true
        }
        this.#queued.push(frame)
        return
      case 'lenient':
      case 'strict': {
        if (this.keyLayout === 'cluster' && frame.rev > this.#rev + 1) {
          this.#gap(frame)
          return
        }
        const outcome = this.#apply(frame)
        if (outcome === 'stale') {
          if (this.#mode === 'strict')
            this.#regression(`${frame.op} frame at rev ${frame.rev}, the replica holds rev ${this.#rev}`)
          return
        }
        if (outcome === 'ignored') return
        this.#notify(outcome)
        this.#waiters.release(this.#rev)
        return
      }
      case 'down':
      case 'closed':
        return
    }
  }

  /** Applies one frame to the copy: the kind of change, or why nothing changed. */
  #apply(frame: MapFrame): MapEventKind | 'stale' | 'ignored' {
    if ((frame.op === 'set' || frame.op === 'del') && isReserved(frame.key)) return 'ignored'
    if (frame.rev <= this.#rev) {
      this.#stats.ignored += 1
      return 'stale'
    }
    this.#rev = frame.rev
    this.#stats.applied += 1
    this.#counted?.applied.inc()
    switch (frame.op) {
      case 'set':
        this.#content.set(frame.key, frame.value)
        return 'change'
      case 'del':
        this.#content.delete(frame.key)
        return 'delete'
      case 'reset':
      case 'destroy':
        this.#content = new Map()
        return 'reset'
    }
  }

  #notify(kind: MapEventKind): void {
    for (const feed of this.#feeds) feed.notify(kind)
  }

  #regression(detail: string): void {
    if (this.#mode === 'down' || this.#mode === 'closed') return
    this.#stats.regressions += 1
    this.#logger.warn(
      { map: this.name, detail },
      'rmap: revision regression (the hash was deleted or Redis lost data): reloading',
    )
    this.#requestLoad('regression')
  }

  /**
   * A frame skipped revisions: frames were lost (a Redis Cluster forwards a PUBLISH between nodes, and
   * a failover can drop those in flight). Every writer of a map in the cluster layout is Pulse for Node,
   * whose scripts bump the revision by one per frame, so a gap is never legitimate there. Reload; the
   * snapshot holds this frame's write too.
   */
  #gap(frame: MapFrame): void {
    this.#stats.gaps += 1
    this.#logger.warn(
      { map: this.name, revision: frame.rev, held: this.#rev },
      'rmap: update frames were lost (a revision gap): reloading',
    )
    this.#requestLoad('gap')
  }

  #onDown(): void {
    if (this.#mode === 'closed') return
    this.#connection += 1
    this.#mode = 'down'
    this.#queued = []
    this.#logger.warn({ map: this.name }, 'rmap: disconnected; serving reads from the last copy')
  }

  #onUp(): void {
    if (this.#mode === 'closed') return
    this.#stats.reconnects += 1
    this.#logger.info({ map: this.name }, 'rmap: reconnected; resubscribing and reloading')
    this.#requestLoad('reconnect')
  }

  /** Queues frames from now on and makes sure a load runs (once, for any number of requests). */
  #requestLoad(reason: LoadReason): void {
    if (this.#mode === 'closed') return
    if (this.#mode === 'down' && reason !== 'reconnect') return // the reconnect will load
    if (this.#mode !== 'buffer') {
      this.#mode = 'buffer'
      this.#queued = []
    }
    this.#loadReason = strongerReason(this.#loadReason, reason)
    this.#startLoadLoop()
  }

  #startLoadLoop(): void {
    if (this.#loading !== undefined) return
    this.#loading = this.#loadLoop().finally(() => {
      this.#loading = undefined
    })
  }

  async #loadLoop(): Promise<void> {
    let failures = 0
    while (this.#loadReason !== undefined && this.#mode !== 'closed') {
      const reason = this.#loadReason
      this.#loadReason = undefined
      const connection = this.#connection
      try {
        if (reason === 'reconnect') await this.#subscription.subscribe()
        await this.#load(reason)
        failures = 0
      } catch (error) {
        if (this.#isClosed()) return
        if (connection !== this.#connection) continue // dropped again: the next reconnect loads
        failures += 1
        this.#logger.warn({ map: this.name, err: error, attempt: failures }, 'rmap: reload failed; retrying')
        this.#loadReason = strongerReason(this.#loadReason, reason)
        await sleep(reconnectDelayMs(failures, kRetryMinMs, kRetryMaxMs), this.#lifecycle.signal).catch(noop)
      }
    }
  }

  /** HGETALL, install, drain the queue, notify, release waiters, then fence (see the module comment). */
  async #load(reason: LoadReason): Promise<void> {
    const connection = this.#connection
    if (this.#mode !== 'buffer') {
      // Frames arriving from now on may be newer than the snapshot: queue them. Those already applied
      // were published before the HGETALL runs, so the snapshot holds them.
      this.#mode = 'buffer'
      this.#queued = []
    }
    // Every setAndWait registered so far committed before the HGETALL below runs.
    const covered = this.#waiters.lastSeq
    const raw = await this.#redis.client.hgetall(this.#keys[0])
    if (this.#isClosed() || connection !== this.#connection) return
    this.#stats.loads += 1
    let kind = this.#install(parseSnapshot(raw), reason)
    const queued = this.#queued
    this.#queued = []
    for (const frame of queued) {
      const outcome = this.#apply(frame)
      if (outcome !== 'stale' && outcome !== 'ignored') kind = strongerKind(kind, outcome)
    }
    if (this.#overflowed) {
      this.#overflowed = false
      this.#loadReason = strongerReason(this.#loadReason, 'overflow')
    }
    // Another load is due (requested meanwhile, or frames were dropped): stay in 'buffer' for it.
    const again = this.#loadReason !== undefined
    if (!again) this.#mode = 'lenient'
    if (kind !== undefined) this.#notify(kind)
    this.#waiters.release(this.#rev)
    this.#waiters.releaseUpToSeq(covered)
    if (again) {
      this.#startLoadLoop()
      return
    }
    try {
      await this.#subscription.barrier()
    } catch {
      return // the connection dropped: the reconnect reloads
    }
    if (connection === this.#connection && this.#mode === 'lenient') this.#mode = 'strict'
  }

  /** Replaces the copy with a snapshot; returns the kind of change to notify (none for the join's). */
  #install(snapshot: Snapshot, reason: LoadReason): MapEventKind | undefined {
    const before = this.#content
    const beforeRev = this.#rev
    this.#content = snapshot.content
    this.#rev = snapshot.rev
    if (reason === 'join') return undefined
    if (snapshot.rev < beforeRev) {
      if (reason !== 'regression') {
        this.#stats.regressions += 1
        this.#logger.warn(
          { map: this.name, revision: snapshot.rev, held: beforeRev },
          'rmap: revision regression found on reload',
        )
      }
      return 'reset'
    }
    let kind: MapEventKind | undefined
    const stored = snapshot.kind as StoredKind | undefined
    if (snapshot.rev > beforeRev && (stored === 'reset' || stored === 'destroy')) kind = 'reset'
    for (const [key, value] of before) {
      const now = snapshot.content.get(key)
      if (now === undefined) kind = strongerKind(kind, 'delete')
      else if (now !== value) kind = strongerKind(kind, 'change')
    }
    if (kind === undefined && (snapshot.content.size !== before.size || snapshot.rev !== beforeRev)) kind = 'change'
    return kind
  }

  async #shutdown(force: boolean): Promise<void> {
    this.#unobserve?.()
    this.#mode = 'closed'
    this.#queued = []
    this.#loadReason = undefined
    for (const feed of [...this.#feeds]) feed.end()
    this.#waiters.rejectAll(this.#closedError('wait'))
    const failures: unknown[] = []
    await this.#subscription.close().catch((error: unknown) => failures.push(error))
    if (this.#ownsRedis)
      await (force ? this.#redis.destroy() : this.#redis.close()).catch((error: unknown) => failures.push(error))
    this.#logger.info({ map: this.name }, 'rmap: closed')
    if (failures.length === 1) throw failures[0] as Error
    if (failures.length > 1)
      throw new AggregateError(failures, `rmap ${JSON.stringify(this.name)}: ${failures.length} cleanups failed`)
  }
}
