/**
 * `ReplicatedMap`: a read-optimised, eventually consistent string map shared by every process that joins
 * it (Redis layout and frames of goa.design/pulse v1.6.5: docs/redis-layout.md, "Maps").
 *
 * The hash `map:<name>:content` is the truth. Every write is one Lua script (`transports/redis/rmap`)
 * that mutates it, bumps `=rev`, sets `=kind` and publishes a frame on `map:<name>:updates`; the `set`s
 * of one tick share one script call that does the same for each (`set-queue.ts`). Each
 * replica keeps a local copy, so reads never touch Redis, and keeps it current from the frames
 * (`local-copy.ts`: the copy, and the state machine that keeps it exact). Writes go to Redis in the
 * order they are made (a set at the end of its tick, or before the next other write, whichever is first);
 * `setAndWait` resolves once the copy holds its revision. `reset()` and `destroy()` work after
 * `close()` too.
 */

import { ClosedError, InvalidArgumentError, PulseError, RedisCommandError } from '../../runtime/errors.js'
import { abortable, Closeable, throwIfAborted } from '../../runtime/lifecycle.js'
import { checkInteger } from '../../runtime/options.js'
import {
  createRedis,
  isClusterClient,
  isClusterSource,
  isRedisClient,
  PulseRedis,
} from '../../transports/redis/connection.js'
import { contentKey, kMapScripts, updatesChannel } from '../../transports/redis/rmap/index.js'
import type { RedisScript, ScriptArg } from '../../transports/redis/scripts.js'
import { ChangeFeed } from './change-feed.js'
import type { ChangeFeedOptions, MapEventKind } from './change-feed.js'
import { parseListValue } from './list-value.js'
import { LocalCopy } from './local-copy.js'
import { SetQueue } from './set-queue.js'
import { mapMetrics } from './metrics.js'
import { type KeyLayout, resolveKeyLayout } from '../../transports/redis/key-layout.js'
import { checkMapKey, checkMapName, checkMapValue, resolveReplicatedMapOptions } from './options.js'
import type { ReplicatedMapLogger, ReplicatedMapOptions, ResolvedReplicatedMapOptions } from './options.js'
import type { RedisSource, RemoveValuesResult, ReplicatedMapStats, SetAndWaitOptions } from './types.js'

export type { RedisSource, RemoveValuesResult, ReplicatedMapStats, SetAndWaitOptions } from './types.js'

/** Bound of a graceful `close()`. */
const kCloseTimeoutMs = 5_000

function noop(): void {}

/** `Array.isArray` without narrowing the argument to `any[]`. */
function isArray(value: unknown): boolean {
  return Array.isArray(value)
}

export class ReplicatedMap extends Closeable {
  readonly name: string
  /** Where the map's keys are (`compat` or `cluster`; transports/redis/key-layout.ts). */
  readonly keyLayout: KeyLayout
  readonly #redis: PulseRedis
  readonly #ownsRedis: boolean
  readonly #source: RedisSource
  readonly #keys: readonly [string, string]
  readonly #ttlArgs: readonly [string, string]
  readonly #logger: ReplicatedMapLogger
  readonly #copy: LocalCopy
  readonly #sets: SetQueue
  readonly #feeds = new Set<ChangeFeed>()
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
    super({ name: `rmap ${JSON.stringify(name)}`, closeTimeoutMs: kCloseTimeoutMs })
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
    const counted =
      metrics === undefined
        ? undefined
        : { writes: metrics.writes.labels({ map: name }), applied: metrics.applied.labels({ map: name }) }
    this.#counted = counted
    this.#sets = new SetQueue((pairs) => kMapScripts.setMany.run(redis, this.#keys, [...this.#ttlArgs, ...pairs]))
    this.#copy = new LocalCopy({
      name,
      keyLayout: layout,
      redis,
      contentKey: this.#keys[0],
      channel: this.#keys[1],
      logger: this.#logger,
      signal: this.signal,
      notify: (kind) => this.#notify(kind),
      onApplied: counted === undefined ? undefined : () => counted.applied.inc(),
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
      map.#copy.stopReplicating() // never subscribes: no frames, no load; writes work until close()
      return map
    }
    try {
      await abortable(map.#copy.join(), resolved.signal)
      if (resolved.metrics !== undefined)
        map.#unobserve = mapMetrics(resolved.metrics).copies.add([name, () => map.#copy.content.size])
    } catch (error) {
      await map.lifecycle.destroy().catch(noop)
      throw error
    }
    map.#logger.info({ map: name, revision: map.#copy.revision, size: map.#copy.content.size }, 'rmap: joined')
    return map
  }

  // ---------------------------------------------------------------- reads (local, never touch Redis)

  get(key: string): string | undefined {
    return this.#copy.content.get(key)
  }

  /** The list stored at `key` (a JSON array; a legacy comma-separated value is read too). */
  getValues(key: string): string[] | undefined {
    const value = this.#copy.content.get(key)
    return value === undefined ? undefined : parseListValue(value)
  }

  has(key: string): boolean {
    return this.#copy.content.has(key)
  }

  keys(): string[] {
    return [...this.#copy.content.keys()]
  }

  get size(): number {
    return this.#copy.content.size
  }

  /** A copy of the content. */
  toObject(): Record<string, string> {
    return Object.fromEntries(this.#copy.content)
  }

  /** The revision (`=rev`) the local copy holds. */
  get revision(): number {
    return this.#copy.revision
  }

  get closed(): boolean {
    return this.state !== 'open'
  }

  get stats(): ReplicatedMapStats {
    return { revision: this.#copy.revision, size: this.#copy.content.size, ...this.#copy.stats }
  }

  // ---------------------------------------------------------------- writes (one Lua script each; sets per tick)

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
    const copy = this.#copy
    const before = copy.revision
    const loads = copy.stats.loads
    const { prev, rev } = await abortable(this.#set('setAndWait', key, value), signal)
    if (rev <= before && copy.stats.loads === loads) {
      // Our write committed at a revision this copy had already passed before we sent it: the counter
      // went backwards under us (the hash was lost). Reload; the load covers this write.
      const waiting = copy.waiters.wait(Number.POSITIVE_INFINITY, signal)
      copy.regression(`setAndWait committed rev ${rev}, the replica held rev ${before} before`)
      await waiting
    } else if (copy.revision < rev) {
      await copy.waiters.wait(rev, signal)
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
    if (this.state !== 'open') throw this.#closedError('subscribe')
    const feed = new ChangeFeed((f) => this.#feeds.delete(f), options)
    if (!feed.done) this.#feeds.add(feed)
    return feed
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
    if (this.state !== 'open') throw this.#closedError(operation)
    this.#counted?.writes.inc()
    return this.#sets.set(key, value)
  }

  async #run(
    operation: string,
    script: RedisScript,
    args: readonly ScriptArg[],
    { afterClose = false } = {},
  ): Promise<unknown> {
    const open = this.state === 'open'
    if (!open && !afterClose) throw this.#closedError(operation)
    this.#counted?.writes.inc()
    this.#sets.flush() // the sets made before this write go first
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

  #notify(kind: MapEventKind): void {
    for (const feed of this.#feeds) feed.notify(kind)
  }

  // ---------------------------------------------------------------- internals: close

  /**
   * Stops replicating: ends the subscriptions, rejects pending `setAndWait`, drops the pub/sub
   * connection (and the Redis connection, when `join` made it). Reads keep the last copy; writes
   * reject with `ClosedError`, except `reset()` and `destroy()`.
   */
  protected onClose(): Promise<void> {
    return this.#shutdown(false)
  }

  /** As `onClose`, but destroys the Redis connection `join` made instead of closing it. */
  protected override onDestroy(): Promise<void> {
    return this.#shutdown(true)
  }

  async #shutdown(force: boolean): Promise<void> {
    this.#sets.flush() // sets made before close() are sent
    this.#unobserve?.()
    this.#copy.stopReplicating()
    for (const feed of [...this.#feeds]) feed.end()
    this.#copy.waiters.rejectAll(this.#closedError('wait'))
    const failures: unknown[] = []
    await this.#copy.closeSubscription().catch((error: unknown) => failures.push(error))
    if (this.#ownsRedis)
      await (force ? this.#redis.destroy() : this.#redis.close()).catch((error: unknown) => failures.push(error))
    this.#logger.info({ map: this.name }, 'rmap: closed')
    if (failures.length === 1) throw failures[0] as Error
    if (failures.length > 1)
      throw new AggregateError(failures, `rmap ${JSON.stringify(this.name)}: ${failures.length} cleanups failed`)
  }
}
