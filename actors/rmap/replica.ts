/**
 * `rmapReplica(rt, redisUrl, name)`: a replicated map held by ONE runtime actor per map per runtime
 * (`rmap:<name>`, module `replica.actor.ts`), shared by every attachment of the process.
 *
 * - Reads are local and synchronous: the actor publishes its copy into a shared-memory snapshot
 *   (design A, `snapshot.ts`) that each reader decodes only when its generation changed. Any other
 *   thread can read it too: post it `attachment.snapshotBuffer` and wrap it in a `SnapshotReader`.
 *   (Design B — a ring `ask` per read — is measured in `bench/rmap` and is ~2 orders of magnitude
 *   slower; it stays available as `getFromActor(key)`.)
 * - Writes go straight to Redis with the map's Lua scripts, on one connection per map per runtime;
 *   `setAndWait` is the exception: the actor runs it, so the snapshot holds the write on return.
 * - `subscribe()` relays the actor's coalesced notifications.
 * - `close()` detaches; the last detach stops the replica (the actor closes its map and its Redis
 *   connections and stays dormant: the runtime has no API to remove an actor; the next attach wakes
 *   it). Closing the runtime stops everything too.
 */
import type { ActorRef } from '../../runtime/actor-ref.js'
import { ClosedError, InvalidArgumentError } from '../../runtime/errors.js'
import { Closeable } from '../../runtime/lifecycle.js'
import type { MetricsRegistry } from '../../runtime/metrics.js'
import { kMaxTimerMs } from '../../runtime/options.js'
import type { Runtime } from '../../runtime/runtime.js'
import type { KeyLayout } from '../../transports/redis/key-layout.js'
import { ChangeFeed } from './change-feed.js'
import type { ChangeFeedOptions, MapEventKind } from './change-feed.js'
import { parseListValue } from './list-value.js'
import { mapMetrics } from './metrics.js'
import { isClusterSource } from '../../transports/redis/connection.js'
import { resolveKeyLayout } from '../../transports/redis/key-layout.js'
import { checkMapName, resolveReplicatedMapOptions } from './options.js'
import type { ReplicatedMapLogger } from './options.js'
import type { ReplicaArgs, ReplicaEvent, ReplicaMsg } from './replica.actor.js'
import { ReplicatedMap } from './replicated-map.js'
import type { RemoveValuesResult } from './replicated-map.js'
import { createSnapshotBuffer, SnapshotReader } from './snapshot.js'

export interface RmapReplicaOptions {
  /** As `ReplicatedMap.join`'s. Only the first attachment's options count. */
  ttlMs?: number | undefined
  slidingTtlMs?: number | undefined
  /** The logger of the write connection (the actor's map logs nowhere). */
  logger?: ReplicatedMapLogger | undefined
  /** The runtime thread of the actor. @default `rmap:<name>` (a thread of its own) */
  thread?: string | undefined
  /** Address space reserved for the snapshot (pages are committed as it grows). @default 1 GiB */
  snapshotMaxBytes?: number | undefined
  /** Where the writes and the keys of the snapshot are counted (metrics.ts). Only the first attachment's counts. */
  metrics?: MetricsRegistry | undefined
  /**
   * The map's keys, as `ReplicatedMap.join`'s: checked against `redisUrl` at once (`compat` on a
   * `redis-cluster://` URL is `PULSE_ERR_INVALID_ARG`). Only the first attachment's counts.
   * @default 'cluster' on a Redis Cluster, else 'compat'
   */
  keyLayout?: KeyLayout | undefined
}

const kReplicaModule = new URL(
  import.meta.url.endsWith('.ts') ? './replica.actor.ts' : './replica.actor.js',
  import.meta.url,
)

interface Shared {
  readonly rt: Runtime
  readonly name: string
  readonly redisUrl: string
  readonly buffer: SharedArrayBuffer
  readonly reader: SnapshotReader
  readonly options: RmapReplicaOptions
  readonly attachments: Set<AttachedReplicatedMap>
  ref: ActorRef<ReplicaMsg, unknown, ReplicaEvent> | undefined
  writer: ReplicatedMap | undefined
  unlisten: (() => void) | undefined
  unobserve: (() => void) | undefined
  /** Attach and detach transitions, one at a time. */
  queue: Promise<unknown>
}

const registries = new WeakMap<Runtime, Map<string, Shared>>()

function noop(): void {}

/**
 * Attaches to the replica of map `name` in `rt`, spawning its actor on first use. Resolves once the
 * replica joined (its snapshot holds the map). Rejects like `ReplicatedMap.join`.
 */
export async function rmapReplica(
  rt: Runtime,
  redisUrl: string,
  name: string,
  options: RmapReplicaOptions = {},
): Promise<AttachedReplicatedMap> {
  checkMapName(name)
  if (typeof redisUrl !== 'string')
    throw new InvalidArgumentError('redisUrl must be a Redis URL', { data: { option: 'redisUrl' } })
  let registry = registries.get(rt)
  if (registry === undefined) {
    registry = new Map()
    registries.set(rt, registry)
  }
  let shared = registry.get(name)
  if (shared === undefined) {
    const { thread: _thread, snapshotMaxBytes, ...mapOptions } = options
    resolveReplicatedMapOptions(mapOptions) // validates
    resolveKeyLayout(mapOptions.keyLayout, isClusterSource(redisUrl)) // refused before anything connects
    const buffer = createSnapshotBuffer(snapshotMaxBytes)
    shared = {
      rt,
      name,
      redisUrl,
      buffer,
      reader: new SnapshotReader(buffer),
      options,
      attachments: new Set(),
      ref: undefined,
      writer: undefined,
      unlisten: undefined,
      unobserve: undefined,
      queue: Promise.resolve(),
    }
    registry.set(name, shared)
  } else if (shared.redisUrl !== redisUrl) {
    throw new InvalidArgumentError(
      `rmap ${JSON.stringify(name)} is already attached in this runtime with another Redis URL`,
      { data: { option: 'redisUrl' } },
    )
  }
  const entry = shared
  const attachment = new AttachedReplicatedMap(entry)
  const attached = entry.queue.then(() => attach(entry, attachment))
  entry.queue = attached.catch(noop)
  await attached
  return attachment
}

async function attach(shared: Shared, attachment: AttachedReplicatedMap): Promise<void> {
  if (shared.attachments.size === 0) {
    const { ttlMs, slidingTtlMs, logger, thread, metrics, keyLayout } = shared.options
    const joinOptions = {
      ...(ttlMs === undefined ? {} : { ttlMs }),
      ...(slidingTtlMs === undefined ? {} : { slidingTtlMs }),
      ...(keyLayout === undefined ? {} : { keyLayout }),
    }
    const writer = await ReplicatedMap.writeOnly(shared.redisUrl, shared.name, {
      ...joinOptions,
      ...(logger === undefined ? {} : { logger }),
      ...(metrics === undefined ? {} : { metrics }),
    })
    try {
      if (shared.ref === undefined) {
        const args: ReplicaArgs = {
          redisUrl: shared.redisUrl,
          name: shared.name,
          snapshot: shared.buffer,
          ...joinOptions,
        }
        shared.ref = (await shared.rt.spawn<ReplicaMsg, unknown, ReplicaArgs>(kReplicaModule, {
          name: `rmap:${shared.name}`,
          args,
          ...(thread === undefined ? {} : { thread }),
        })) as ActorRef<ReplicaMsg, unknown, ReplicaEvent>
      } else {
        await shared.ref.ask({ op: 'start' })
      }
    } catch (error) {
      await writer.close().catch(noop)
      throw error
    }
    shared.writer = writer
    if (metrics !== undefined)
      shared.unobserve = mapMetrics(metrics).copies.add([shared.name, () => shared.reader.content().size])
    shared.unlisten = shared.ref.onMessage((event) => {
      for (const each of shared.attachments) each._notify(event.kind)
    })
  }
  shared.attachments.add(attachment)
}

async function detach(shared: Shared, attachment: AttachedReplicatedMap): Promise<void> {
  if (!shared.attachments.delete(attachment) || shared.attachments.size > 0) return
  shared.unlisten?.()
  shared.unlisten = undefined
  shared.unobserve?.()
  shared.unobserve = undefined
  const writer = shared.writer
  shared.writer = undefined
  try {
    await shared.ref?.ask({ op: 'stop' })
  } catch {
    // The runtime closed (or the actor is restarting): its own stop closes the map.
  } finally {
    await writer?.close()
  }
}

/** One attachment to a runtime-held replica. Reads are local and synchronous; see the module comment. */
export class AttachedReplicatedMap extends Closeable {
  readonly name: string
  readonly #shared: Shared
  readonly #feeds = new Set<ChangeFeed>()

  /** @internal use `rmapReplica` */
  constructor(shared: Shared) {
    // Detaching waits for the attachments before it (one queue per map); the actor's stop bounds it.
    super({ name: `rmap replica ${JSON.stringify(shared.name)}`, closeTimeoutMs: kMaxTimerMs })
    this.#shared = shared
    this.name = shared.name
  }

  /** The snapshot buffer: post it to another thread and read it there with `new SnapshotReader(buffer)`. */
  get snapshotBuffer(): SharedArrayBuffer {
    return this.#shared.buffer
  }

  /** The replica's actor (`rmap:<name>`). */
  get actor(): ActorRef<ReplicaMsg, unknown, ReplicaEvent> | undefined {
    return this.#shared.ref
  }

  // ---------------------------------------------------------------- reads (the shared snapshot)

  get(key: string): string | undefined {
    return this.#shared.reader.get(key)
  }

  getValues(key: string): string[] | undefined {
    const value = this.#shared.reader.get(key)
    return value === undefined ? undefined : parseListValue(value)
  }

  has(key: string): boolean {
    return this.#shared.reader.has(key)
  }

  keys(): string[] {
    return [...this.#shared.reader.content().keys()]
  }

  get size(): number {
    return this.#shared.reader.content().size
  }

  toObject(): Record<string, string> {
    return Object.fromEntries(this.#shared.reader.content())
  }

  /** The revision the snapshot holds. */
  get revision(): number {
    return this.#shared.reader.revision
  }

  get closed(): boolean {
    return this.state !== 'open'
  }

  /** Design B: the value, asked of the actor over the runtime's ring (a round trip per read). */
  async getFromActor(key: string): Promise<string | undefined> {
    return (await this.#ref('getFromActor').ask({ op: 'get', key })) as string | undefined
  }

  // ---------------------------------------------------------------- writes (straight to Redis)

  set(key: string, value: string): Promise<string | undefined> {
    return this.#writer('set').set(key, value)
  }

  /** Sets `key` through the actor; resolves once this process's snapshot holds the write. */
  async setAndWait(key: string, value: string): Promise<string | undefined> {
    this.#writer('setAndWait')
    return (await this.#ref('setAndWait').ask({ op: 'setAndWait', key, value })) as string | undefined
  }

  setIfNotExists(key: string, value: string): Promise<boolean> {
    return this.#writer('setIfNotExists').setIfNotExists(key, value)
  }

  testAndSet(key: string, test: string, value: string): Promise<string | undefined> {
    return this.#writer('testAndSet').testAndSet(key, test, value)
  }

  inc(key: string, delta = 1): Promise<number> {
    return this.#writer('inc').inc(key, delta)
  }

  appendValues(key: string, ...items: string[]): Promise<string[]> {
    return this.#writer('appendValues').appendValues(key, ...items)
  }

  appendUniqueValues(key: string, ...items: string[]): Promise<string[]> {
    return this.#writer('appendUniqueValues').appendUniqueValues(key, ...items)
  }

  removeValues(key: string, ...items: string[]): Promise<RemoveValuesResult> {
    return this.#writer('removeValues').removeValues(key, ...items)
  }

  delete(key: string): Promise<string | undefined> {
    return this.#writer('delete').delete(key)
  }

  testAndDelete(key: string, test: string): Promise<string | undefined> {
    return this.#writer('testAndDelete').testAndDelete(key, test)
  }

  testAndReset(keys: readonly string[], tests: readonly string[]): Promise<boolean> {
    return this.#writer('testAndReset').testAndReset(keys, tests)
  }

  reset(): Promise<void> {
    return this.#writer('reset').reset()
  }

  destroy(): Promise<void> {
    return this.#writer('destroy').destroy()
  }

  // ---------------------------------------------------------------- notifications and lifecycle

  /** The actor's coalesced notifications (`'change' | 'delete' | 'reset'`), as `ReplicatedMap.subscribe`. */
  subscribe(options: ChangeFeedOptions = {}): ChangeFeed {
    if (this.state !== 'open') throw this.#closedError('subscribe')
    const feed = new ChangeFeed((f) => this.#feeds.delete(f), options)
    if (!feed.done) this.#feeds.add(feed)
    return feed
  }

  /** @internal called by the shared listener */
  _notify(kind: MapEventKind): void {
    for (const feed of this.#feeds) feed.notify(kind)
  }

  /** Detaches: the last attachment's close stops the replica. Reads keep the last snapshot. */
  protected onClose(): Promise<void> {
    for (const feed of [...this.#feeds]) feed.end()
    const shared = this.#shared
    const detached = shared.queue.then(() => detach(shared, this))
    shared.queue = detached.catch(noop)
    return detached
  }

  #writer(operation: string): ReplicatedMap {
    const writer = this.#shared.writer
    if (this.state !== 'open' || writer === undefined) throw this.#closedError(operation)
    return writer
  }

  #ref(operation: string): ActorRef<ReplicaMsg, unknown, ReplicaEvent> {
    const ref = this.#shared.ref
    if (this.state !== 'open' || ref === undefined) throw this.#closedError(operation)
    return ref
  }

  #closedError(operation: string): ClosedError {
    return new ClosedError(`rmap replica ${JSON.stringify(this.name)} is detached: cannot ${operation} after close()`, {
      data: { map: this.name, operation },
    })
  }
}
