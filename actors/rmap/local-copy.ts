/**
 * `LocalCopy`: a replicated map's local copy (content and revision) and the state machine that keeps it
 * exact from the update frames of the map's channel and from reloads (HGETALL). `ReplicatedMap` owns one
 * and serves its reads from it; the copy tells it what changed (`notify`) and releases the `setAndWait`
 * callers (`waiters`) whose revision it holds.
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
import { RedisConnectionError } from '../../runtime/errors.js'
import { sleep } from '../../runtime/lifecycle.js'
import { type PulseRedis, reconnectDelayMs } from '../../transports/redis/connection.js'
import type { KeyLayout } from '../../transports/redis/key-layout.js'
import { decodeFrame, MapSubscription } from '../../transports/redis/rmap/index.js'
import type { MapFrame, StoredKind } from '../../transports/redis/rmap/index.js'
import { strongerKind } from './change-feed.js'
import type { MapEventKind } from './change-feed.js'
import { isReserved, type LoadReason, parseSnapshot, type Snapshot, strongerReason } from './hash-content.js'
import type { ReplicatedMapLogger } from './options.js'
import { RevisionWaiters } from './revision-waiters.js'

type Mode = 'buffer' | 'lenient' | 'strict' | 'down' | 'closed'

/** Frames queued during a load beyond this are dropped, and another load follows. */
const kMaxQueuedFrames = 100_000
/** Backoff of failed reloads (HGETALL or SUBSCRIBE failing while Redis is down). */
const kRetryMinMs = 100
const kRetryMaxMs = 5_000

function noop(): void {}

export interface LocalCopyOptions {
  readonly name: string
  readonly keyLayout: KeyLayout
  /** The map's command connection: HGETALL goes through it, the pub/sub connection copies its options. */
  readonly redis: PulseRedis
  readonly contentKey: string
  readonly channel: string
  readonly logger: ReplicatedMapLogger
  /** Aborts when the map closes: a reload's backoff ends. */
  readonly signal: AbortSignal
  /** Told the strongest kind of each change the copy took (once per frame, once per reload). */
  readonly notify: (kind: MapEventKind) => void
  /** Called for each frame applied. */
  readonly onApplied: (() => void) | undefined
}

export class LocalCopy {
  /** Counters of the replication, for `ReplicatedMap.stats`. */
  readonly stats = { applied: 0, ignored: 0, malformed: 0, loads: 0, regressions: 0, reconnects: 0, gaps: 0 }
  /** The `setAndWait` callers waiting for a revision. */
  readonly waiters = new RevisionWaiters()
  readonly #options: LocalCopyOptions
  readonly #subscription: MapSubscription
  #map = new Map<string, string>()
  #revision = 0
  #mode: Mode = 'buffer'
  #queued: MapFrame[] = []
  #overflowed = false
  /** Bumped when the pub/sub connection drops: a load that straddles a drop is void. */
  #connection = 0
  #loadReason: LoadReason | undefined
  #loading: Promise<void> | undefined

  constructor(options: LocalCopyOptions) {
    this.#options = options
    this.#subscription = new MapSubscription(options.redis.client, options.channel, {
      onFrame: (payload) => this.#onFrame(payload),
      onDown: () => this.#onDown(),
      onUp: () => this.#onUp(),
      onError: (err) => options.logger.debug({ map: options.name, err }, 'rmap: pub/sub connection error'),
    })
  }

  get content(): ReadonlyMap<string, string> {
    return this.#map
  }

  /** The revision (`=rev`) the copy holds. */
  get revision(): number {
    return this.#revision
  }

  /** Stops replicating (at close, or at once for a write-only handle): frames and loads are ignored. */
  stopReplicating(): void {
    this.#mode = 'closed'
    this.#queued = []
    this.#loadReason = undefined
  }

  /** Drops the pub/sub connection (after `stopReplicating`). */
  closeSubscription(): Promise<void> {
    return this.#subscription.close()
  }

  /** Subscribes and loads; rejects when the pub/sub connection dropped meanwhile. */
  async join(): Promise<void> {
    await this.#subscription.subscribe()
    const connection = this.#connection
    await this.#load('join')
    if (connection !== this.#connection || this.#mode === 'down') {
      throw new RedisConnectionError(
        `rmap ${JSON.stringify(this.#options.name)}: the pub/sub connection dropped during the join`,
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
      this.stats.malformed += 1
      this.#options.logger.warn(
        { map: this.#options.name, reason: frame, bytes: payload.length },
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
        if (this.#options.keyLayout === 'cluster' && frame.rev > this.#revision + 1) {
          this.#gap(frame)
          return
        }
        const outcome = this.#apply(frame)
        if (outcome === 'stale') {
          if (this.#mode === 'strict')
            this.regression(`${frame.op} frame at rev ${frame.rev}, the replica holds rev ${this.#revision}`)
          return
        }
        if (outcome === 'ignored') return
        this.#options.notify(outcome)
        this.waiters.release(this.#revision)
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
    if (frame.rev <= this.#revision) {
      this.stats.ignored += 1
      return 'stale'
    }
    this.#revision = frame.rev
    this.stats.applied += 1
    this.#options.onApplied?.()
    switch (frame.op) {
      case 'set':
        this.#map.set(frame.key, frame.value)
        return 'change'
      case 'del':
        this.#map.delete(frame.key)
        return 'delete'
      case 'reset':
      case 'destroy':
        this.#map = new Map()
        return 'reset'
    }
  }

  /** The counter went backwards (seen by a write): reload, unless down or stopped. */
  regression(detail: string): void {
    if (this.#mode === 'down' || this.#mode === 'closed') return
    this.stats.regressions += 1
    this.#options.logger.warn(
      { map: this.#options.name, detail },
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
    this.stats.gaps += 1
    this.#options.logger.warn(
      { map: this.#options.name, revision: frame.rev, held: this.#revision },
      'rmap: update frames were lost (a revision gap): reloading',
    )
    this.#requestLoad('gap')
  }

  #onDown(): void {
    if (this.#mode === 'closed') return
    this.#connection += 1
    this.#mode = 'down'
    this.#queued = []
    this.#options.logger.warn({ map: this.#options.name }, 'rmap: disconnected; serving reads from the last copy')
  }

  #onUp(): void {
    if (this.#mode === 'closed') return
    this.stats.reconnects += 1
    this.#options.logger.info({ map: this.#options.name }, 'rmap: reconnected; resubscribing and reloading')
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
        this.#options.logger.warn(
          { map: this.#options.name, err: error, attempt: failures },
          'rmap: reload failed; retrying',
        )
        this.#loadReason = strongerReason(this.#loadReason, reason)
        await sleep(reconnectDelayMs(failures, kRetryMinMs, kRetryMaxMs), this.#options.signal).catch(noop)
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
    const covered = this.waiters.lastSeq
    const raw = await this.#options.redis.client.hgetall(this.#options.contentKey)
    if (this.#isClosed() || connection !== this.#connection) return
    this.stats.loads += 1
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
    if (kind !== undefined) this.#options.notify(kind)
    this.waiters.release(this.#revision)
    this.waiters.releaseUpToSeq(covered)
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
    const before = this.#map
    const beforeRev = this.#revision
    this.#map = snapshot.content
    this.#revision = snapshot.rev
    if (reason === 'join') return undefined
    if (snapshot.rev < beforeRev) {
      if (reason !== 'regression') {
        this.stats.regressions += 1
        this.#options.logger.warn(
          { map: this.#options.name, revision: snapshot.rev, held: beforeRev },
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
}
