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
 */
import type { Redis } from 'ioredis'
import type { RedisOptions } from 'ioredis'

import { coerceError, RedisConnectionError } from '../../../runtime/errors.js'
import { withTimeout } from '../../../runtime/lifecycle.js'
import { trackResource } from '../../../runtime/resource-tracker.js'
import { DEFAULT_REDIS_CLIENT_OPTIONS, reconnectDelayMs } from '../connection.js'
import { mapRedisError } from '../errors.js'

export interface MapSubscriptionHandlers {
  onFrame(payload: Buffer): void
  onDown(): void
  onUp(): void
  /** A socket error (the connection handles reconnecting); for logging. */
  onError(error: Error): void
}

/** ioredis members needed to drop a client that waits to reconnect; private in its typings. */
interface IoredisInternals {
  reconnectTimeout?: NodeJS.Timeout | null
  setStatus?: (status: 'end') => void
  flushQueue?: (error: Error) => void
}

/** Bound of the wait for the socket to close in `close()`. */
const kCloseWaitMs = 1_000

export class MapSubscription {
  readonly channel: string
  readonly #client: Redis
  readonly #handlers: MapSubscriptionHandlers
  readonly #channelBuffer: Buffer
  readonly #untrack: () => void
  readonly #inFlight = new Set<{ reject(error: Error): void }>()
  #wasReady = false
  #down = false
  #closed = false

  /**
   * @param base the map's command connection, whose options the new connection copies
   * @param channel the channel name without the client's `keyPrefix` (scripts get it prepended, as KEYS)
   */
  constructor(base: Redis, channel: string, handlers: MapSubscriptionHandlers) {
    const options = base.options
    // ioredis prefixes KEYS (so the channel the scripts PUBLISH on) but not SUBSCRIBE's channels.
    this.channel = `${options.keyPrefix ?? ''}${channel}`
    this.#channelBuffer = Buffer.from(this.channel)
    this.#handlers = handlers
    const { reconnectMinDelayMs: min, reconnectMaxDelayMs: max } = DEFAULT_REDIS_CLIENT_OPTIONS
    const override: RedisOptions = {
      lazyConnect: true,
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      enableOfflineQueue: true,
      enableReadyCheck: true,
      enableAutoPipelining: false,
      // A join against an unreachable server fails after a few attempts instead of hanging.
      maxRetriesPerRequest: 2,
      retryStrategy: (attempt: number) => reconnectDelayMs(attempt, min, max),
      ...(typeof options.connectionName === 'string' ? { connectionName: `${options.connectionName}:rmap` } : {}),
    }
    this.#client = base.duplicate(override)
    this.#untrack = trackResource('redis', `rmap subscription ${this.channel}`)
    this.#client.on('messageBuffer', this.#onMessage)
    this.#client.on('close', this.#onClose)
    this.#client.on('ready', this.#onReady)
    this.#client.on('error', this.#onError)
  }

  /** The ioredis status of the connection (`'ready'`, `'reconnecting'`, …). */
  get status(): string {
    return this.#client.status
  }

  /** SUBSCRIBE to the channel; resolves once Redis confirmed it. Connects on first use. */
  subscribe(): Promise<void> {
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
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const client = this.#client
    const ended =
      client.status === 'end' ? Promise.resolve() : new Promise<void>((resolve) => client.once('end', () => resolve()))
    if (client.status === 'reconnecting' || client.status === 'close') {
      // ioredis' disconnect() leaves a client that waits to reconnect in that state for ever, its
      // queued commands unsettled (redis/ioredis#2169): finish the job as its close handler would.
      const internals = client as unknown as IoredisInternals
      if (internals.reconnectTimeout != null) clearTimeout(internals.reconnectTimeout)
      internals.reconnectTimeout = null
      if (typeof internals.setStatus === 'function' && typeof internals.flushQueue === 'function') {
        internals.setStatus.call(client, 'end')
        internals.flushQueue.call(client, new Error('Connection is closed.'))
      } else {
        client.disconnect()
      }
    } else if (client.status !== 'end') {
      client.disconnect()
    }
    await withTimeout(ended, kCloseWaitMs, () => new Error('not ended')).catch(() => undefined)
    this.#rejectInFlight()
    client.off('messageBuffer', this.#onMessage)
    client.off('close', this.#onClose)
    client.off('ready', this.#onReady)
    // Keep an 'error' listener: a late socket error must not become an unhandled 'error' event.
    this.#untrack()
  }

  readonly #onMessage = (channel: Buffer, payload: Buffer): void => {
    if (this.#closed || !channel.equals(this.#channelBuffer)) return
    this.#handlers.onFrame(payload)
  }

  readonly #onClose = (): void => {
    this.#rejectInFlight()
    if (this.#closed || !this.#wasReady || this.#down) return
    this.#down = true
    this.#handlers.onDown()
  }

  readonly #onReady = (): void => {
    if (this.#closed) return
    if (!this.#wasReady) {
      this.#wasReady = true
      return
    }
    if (!this.#down) return
    this.#down = false
    this.#handlers.onUp()
  }

  readonly #onError = (error: unknown): void => {
    if (!this.#closed) this.#handlers.onError(coerceError(error))
  }
}
