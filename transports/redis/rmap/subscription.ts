/**
 * The dedicated pub/sub connection of one replica: `SUBSCRIBE map:<name>:updates` in Buffer mode.
 *
 * It is a new ioredis client made with the options of the map's command connection (`duplicate()`), so
 * credentials, TLS and `db` carry over, with Pulse's reconnect policy on top: it reconnects for ever
 * with exponential backoff and jitter, and does NOT resubscribe by itself (`autoResubscribe: false`).
 * The replica decides when to subscribe again, because each subscription must be followed by a reload
 * (`replicated-map.ts`). The connection reports:
 *
 * - `onFrame(payload)`: each message on the channel, as the raw Buffer;
 * - `onDown()`: the connection dropped (frames may have been lost from here on);
 * - `onUp()`: the connection is back (ready) after a drop, not yet subscribed.
 *
 * `barrier()` sends PING on the subscribed connection: its reply comes after every message Redis
 * published to this connection before the PING ran, which fences a reload (see the replica).
 *
 * On a Redis Cluster it is one plain connection to one node, made with the cluster's per-node options:
 * a PUBLISH reaches the subscribers of every node, and this connection goes to the master of the
 * channel's slot, where the map's scripts publish, so that `barrier()` fences the frames published
 * before a load as on one server. When that node goes away (a failover) the reconnect attempts
 * alternate between the slot's master, as the cluster's slot map (refreshed on each attempt) names it,
 * and the other nodes; the first that answers takes the subscription, and the replica subscribes again
 * and reloads as after any drop (`onUp`). On a node other than the slot's master a frame can arrive
 * after the barrier; the replica takes it for a regression and reloads once more, which is safe.
 *
 * It is a `Closeable`: `close()` drops the connection and resolves once its socket has closed (or after
 * kCloseWaitMs, when the socket does not report it); every call returns that same promise.
 */
import { type Cluster, Redis } from 'ioredis'
import type { RedisOptions } from 'ioredis'

import { coerceError, RedisConnectionError } from '../../../runtime/errors.js'
import { Closeable, withTimeout } from '../../../runtime/lifecycle.js'
import { kMaxTimerMs } from '../../../runtime/options.js'
import { trackResource } from '../../../runtime/resource-tracker.js'
import { DEFAULT_REDIS_CLIENT_OPTIONS, forceDisconnect, isClusterClient, reconnectDelayMs } from '../connection.js'
import { mapRedisError } from '../errors.js'
import { keySlot, nodeKey, refreshSlots } from '../cluster-slots.js'

export interface MapSubscriptionHandlers {
  onFrame(payload: Buffer): void
  onDown(): void
  onUp(): void
  /** A socket error (the connection handles reconnecting); for logging. */
  onError(error: Error): void
}

/** Bound of the wait for the socket to close in `close()`. */
const kCloseWaitMs = 1_000

/** A node of a cluster, parsed from the `host:port` its slot map names it by. */
function parseNodeKey(key: string): { host: string; port: number } {
  const colon = key.lastIndexOf(':')
  return { host: key.slice(0, colon), port: Number(key.slice(colon + 1)) }
}

/** Where the subscription of a channel goes on a cluster (see the module comment). */
class ClusterTarget {
  readonly #cluster: Cluster
  readonly #slot: number

  constructor(cluster: Cluster, channel: string) {
    this.#cluster = cluster
    this.#slot = keySlot(channel)
  }

  /** Whether the slot map names the slot's master yet. */
  get known(): boolean {
    return this.#cluster.slots[this.#slot]?.[0] !== undefined
  }

  /** Waits for the cluster client to be ready, which fills its slot map. */
  async learn(): Promise<void> {
    if (!this.known) await this.#cluster.ping()
  }

  /** Points `options` at the node to try on reconnect attempt `attempt` (0 for the first connect). */
  aim(options: RedisOptions, attempt: number): void {
    if (attempt > 0) refreshSlots(this.#cluster).catch(() => undefined)
    const master = this.#cluster.slots[this.#slot]?.[0]
    const others = this.#cluster
      .nodes('all')
      .map(nodeKey)
      .filter((key) => key !== master)
    const key =
      master !== undefined && (attempt % 2 === 0 || others.length === 0) ? master : others[attempt % others.length]
    if (key === undefined) return
    const { host, port } = parseNodeKey(key)
    options.host = host
    options.port = port
  }
}

/** A client of one node of `cluster`, with its per-node options and `override`; `ClusterTarget.aim` picks the node. */
function nodeClient(cluster: Cluster, override: RedisOptions): Redis {
  const { replyMapping: _mapping, ...perNode } = cluster.options.redisOptions ?? {}
  // ioredis 6 types its constructors per reply mapping; Pulse's clients use the default ('legacy').
  return new Redis({ ...perNode, ...override } as RedisOptions & { replyMapping?: 'legacy' })
}

export class MapSubscription extends Closeable {
  readonly channel: string
  readonly #client: Redis
  readonly #target: ClusterTarget | undefined
  readonly #handlers: MapSubscriptionHandlers
  readonly #channelBuffer: Buffer
  readonly #untrack: () => void
  readonly #inFlight = new Set<{ reject(error: Error): void }>()
  #wasReady = false
  #down = false

  /**
   * @param base the map's command connection, whose options the new connection copies
   * @param channel the channel name without the client's `keyPrefix` (scripts get it prepended, as KEYS)
   */
  constructor(base: Redis | Cluster, channel: string, handlers: MapSubscriptionHandlers) {
    const options = base.options
    // ioredis prefixes KEYS (so the channel the scripts PUBLISH on) but not SUBSCRIBE's channels.
    const prefixed = `${options.keyPrefix ?? ''}${channel}`
    // onClose bounds its own wait (kCloseWaitMs).
    super({ name: `rmap subscription ${prefixed}`, closeTimeoutMs: kMaxTimerMs })
    this.channel = prefixed
    this.#channelBuffer = Buffer.from(this.channel)
    this.#handlers = handlers
    const { reconnectMinDelayMs: min, reconnectMaxDelayMs: max } = DEFAULT_REDIS_CLIENT_OPTIONS
    this.#target = isClusterClient(base) ? new ClusterTarget(base, this.channel) : undefined
    const connectionName = isClusterClient(base)
      ? base.options.redisOptions?.connectionName
      : base.options.connectionName
    const override: RedisOptions = {
      lazyConnect: true,
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      enableOfflineQueue: true,
      enableReadyCheck: true,
      enableAutoPipelining: false,
      // A join against an unreachable server fails after a few attempts instead of hanging.
      maxRetriesPerRequest: 2,
      retryStrategy: (attempt: number) => {
        // ioredis reads host and port from these options at each connect: the next attempt goes there.
        this.#target?.aim(this.#client.options, attempt)
        return reconnectDelayMs(attempt, min, max)
      },
      ...(typeof connectionName === 'string' ? { connectionName: `${connectionName}:rmap` } : {}),
    }
    this.#client = isClusterClient(base) ? nodeClient(base, override) : base.duplicate(override)
    this.#untrack = trackResource('redis', this.lifecycle.name)
    this.#client.on('messageBuffer', this.#onMessage)
    this.#client.on('close', this.#onSocketClose)
    this.#client.on('ready', this.#onReady)
    this.#client.on('error', this.#onError)
  }

  /** The ioredis status of the connection (`'ready'`, `'reconnecting'`, …). */
  get status(): string {
    return this.#client.status
  }

  /** SUBSCRIBE to the channel; resolves once Redis confirmed it. Connects on first use. */
  async subscribe(): Promise<void> {
    const target = this.#target
    if (target !== undefined && this.#client.status === 'wait') {
      await target.learn()
      target.aim(this.#client.options, 0)
    }
    return this.#settled('subscribe', this.#client.subscribe(this.channel))
  }

  /** PING on the subscribed connection: resolves after every message published before it ran. */
  barrier(): Promise<void> {
    return this.#settled('ping', this.#client.ping())
  }

  /**
   * `command` with typed errors, rejected at once when the connection drops: ioredis forgets the
   * commands in flight across a reconnect without settling them when `autoResendUnfulfilledCommands`
   * is off.
   */
  async #settled(name: string, command: Promise<unknown>): Promise<void> {
    let entry: { reject(error: Error): void } | undefined
    const dropped = new Promise<never>((_, reject) => {
      entry = { reject }
      this.#inFlight.add(entry)
    })
    try {
      await Promise.race([command, dropped])
    } catch (error) {
      throw mapRedisError(error, name)
    } finally {
      if (entry !== undefined) this.#inFlight.delete(entry)
      command.catch(() => undefined)
    }
  }

  #rejectInFlight(): void {
    const error = new RedisConnectionError(`the pub/sub connection of ${this.channel} was lost`, {
      data: { channel: this.channel },
    })
    for (const entry of this.#inFlight) entry.reject(error)
    this.#inFlight.clear()
  }

  /** Drops the connection (no UNSUBSCRIBE needed: the server forgets a closed client's channels). */
  protected async onClose(): Promise<void> {
    const client = this.#client
    const ended =
      client.status === 'end' ? Promise.resolve() : new Promise<void>((resolve) => client.once('end', () => resolve()))
    forceDisconnect(client)
    await withTimeout(ended, kCloseWaitMs, () => new Error('not ended')).catch(() => undefined)
    this.#rejectInFlight()
    client.off('messageBuffer', this.#onMessage)
    client.off('close', this.#onSocketClose)
    client.off('ready', this.#onReady)
    // Keep an 'error' listener: a late socket error must not become an unhandled 'error' event.
    this.#untrack()
  }

  readonly #onMessage = (channel: Buffer, payload: Buffer): void => {
    if (this.state !== 'open' || !channel.equals(this.#channelBuffer)) return
    this.#handlers.onFrame(payload)
  }

  readonly #onSocketClose = (): void => {
    this.#rejectInFlight()
    if (this.state !== 'open' || !this.#wasReady || this.#down) return
    this.#down = true
    this.#handlers.onDown()
  }

  readonly #onReady = (): void => {
    if (this.state !== 'open') return
    if (!this.#wasReady) {
      this.#wasReady = true
      return
    }
    if (!this.#down) return
    this.#down = false
    this.#handlers.onUp()
  }

  readonly #onError = (error: unknown): void => {
    if (this.state === 'open') this.#handlers.onError(coerceError(error))
  }
}
