/**
 * The bus's pub/sub connection for inboxes (`_bus_.<name>`): replies and confirmations are routed
 * through Redis channels, never persisted, like ella.to/bus v0.6.4 routes them in memory — but across
 * every process on the same Redis. A message published while nobody is subscribed is lost (PUBLISH
 * answers 0 receivers), which is how a publisher learns that an inbox has no listener.
 *
 * It is one connection made with the options of the bus's command connection (`duplicate()`), opened
 * on the first subscription. ioredis resubscribes after a reconnect; messages published during the
 * outage are lost, which a request sees as a timeout and a confirm as a final count check.
 *
 * On a Redis Cluster it is a duplicate of the bus's `Cluster`: a PUBLISH reaches the subscribers of
 * every node, and ioredis keeps the subscriptions on one node, moving them to another (resubscribed)
 * when that node goes away.
 *
 * It is a `Closeable`: `close()` drops the connection and resolves once its socket has closed (or after
 * kCloseWaitMs, when the socket does not report it); every call returns that same promise. Once closing,
 * `subscribe()` throws `ClosedError` instead of opening the connection again.
 */
import type { Cluster, Redis } from 'ioredis'

import { coerceError } from '../../../runtime/errors.js'
import { Closeable, withTimeout } from '../../../runtime/lifecycle.js'
import { kMaxTimerMs } from '../../../runtime/options.js'
import { trackResource } from '../../../runtime/resource-tracker.js'
import { DEFAULT_REDIS_CLIENT_OPTIONS, isClusterClient, reconnectDelayMs } from '../connection.js'
import { mapRedisError } from '../errors.js'

export type InboxListener = (message: Buffer) => void

/** Bound of the wait for the socket to close in `close()`. */
const kCloseWaitMs = 1_000

export class InboxConnection extends Closeable {
  readonly #base: Redis
  readonly #name: string
  readonly #listeners = new Map<string, Set<InboxListener>>()
  #client: Redis | undefined
  #untrack: (() => void) | undefined
  onError: ((error: Error) => void) | undefined

  constructor(base: Redis, name: string) {
    // onClose bounds its own wait (kCloseWaitMs).
    super({ name: `inbox connection "${name}"`, closeTimeoutMs: kMaxTimerMs })
    this.#base = base
    this.#name = name
  }

  #connection(): Redis {
    if (this.#client !== undefined) return this.#client
    const client = isClusterClient(this.#base) ? this.#duplicateCluster(this.#base) : this.#duplicate(this.#base)
    client.on('error', (error: unknown) => this.onError?.(coerceError(error)))
    client.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const listeners = this.#listeners.get(channel.toString('utf8'))
      if (listeners !== undefined) for (const listener of listeners) listener(message)
    })
    this.#untrack = trackResource('redis', `${this.#name}:inbox`)
    this.#client = client
    return client
  }

  #duplicate(base: Redis): Redis {
    const { reconnectMinDelayMs: min, reconnectMaxDelayMs: max } = DEFAULT_REDIS_CLIENT_OPTIONS
    return base.duplicate({
      lazyConnect: false,
      enableAutoPipelining: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: 2,
      retryStrategy: (attempt: number) => reconnectDelayMs(attempt, min, max),
      connectionName: `${this.#name}:inbox`,
    })
  }

  /** The cluster's own reconnect policy applies; its nodes' connections get the inbox's name. */
  #duplicateCluster(base: Cluster): Redis {
    const redisOptions = { ...base.options.redisOptions, connectionName: `${this.#name}:inbox` }
    // ioredis 6 types its options per reply mapping; Pulse's clients use the default ('legacy').
    const override = { enableAutoPipelining: false, redisOptions } as Parameters<Cluster['duplicate']>[1]
    return base.duplicate([], override) as unknown as Redis
  }

  /**
   * Listens on `channel` (the full channel name: ioredis prefixes keys, not SUBSCRIBE's channels);
   * resolves once Redis confirmed the subscription. Returns the function that stops listening.
   */
  async subscribe(channel: string, listener: InboxListener): Promise<() => Promise<void>> {
    this.assertOpen('subscribe')
    const client = this.#connection()
    let listeners = this.#listeners.get(channel)
    const first = listeners === undefined
    if (listeners === undefined) {
      listeners = new Set()
      this.#listeners.set(channel, listeners)
    }
    listeners.add(listener)
    if (first) {
      try {
        await client.subscribe(channel)
      } catch (error) {
        listeners.delete(listener)
        if (listeners.size === 0) this.#listeners.delete(channel)
        throw mapRedisError(error, 'subscribe')
      }
    }
    let done = false
    return async () => {
      if (done) return
      done = true
      const set = this.#listeners.get(channel)
      set?.delete(listener)
      if (set !== undefined && set.size === 0) {
        this.#listeners.delete(channel)
        if (this.state === 'open' && client.status === 'ready') await client.unsubscribe(channel).catch(() => undefined)
      }
    }
  }

  /** Drops the connection (subscriptions end; nothing more is delivered). */
  protected async onClose(): Promise<void> {
    this.#listeners.clear()
    const client = this.#client
    if (client === undefined) return
    if (client.status !== 'end') {
      const ended = new Promise<void>((resolve) => client.once('end', () => resolve()))
      client.disconnect()
      await withTimeout(ended, kCloseWaitMs, () => new Error('not ended')).catch(() => undefined)
    }
    this.#untrack?.()
  }
}
