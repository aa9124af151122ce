/**
 * `Reader`: its own cursor over one or more streams (XREAD); every subscription sees every event, in
 * id order per stream. It runs on the caller's thread with a connection of its own; the read loop
 * starts when the first subscription iterates and waits while any subscription's buffer is full.
 *
 *   created (cursors resolved) ──first subscribe──▶ reading ⇄ waiting for space / for a stream
 *                                                     │ Redis error: retry after a jittered backoff,
 *                                                     │   from the same cursor (nothing lost)
 *                                                     ▼ close(): the blocked XREAD is cancelled
 *                                                   closed (iterators finish)
 *
 * `addStream` / `removeStream` take effect at once: they interrupt a blocked read (`CLIENT UNBLOCK`).
 * Entries that are not Pulse's are skipped, counted in `stats().malformed` and logged.
 *
 * On a Redis Cluster the streams of a reader share one hash slot (stream-slot.ts), and the blocking
 * XREAD is sent to the node of the blocking cluster connection that serves it, so that `CLIENT UNBLOCK`
 * (sent on the command connection to the same node) reaches it. A lost connection or `MOVED`… refreshes
 * the slot map before the retry.
 */
import type { Cluster, Redis } from 'ioredis'

import { Closeable, sleep } from '../../runtime/lifecycle.js'
import { type Logger } from '../../runtime/logger.js'
import { createRedis, type PulseRedis, reconnectDelayMs } from '../../transports/redis/connection.js'
import { isTopologyError, keySlot, nodeKey, refreshSlots, slotMaster } from '../../transports/redis/cluster-slots.js'
import { parseReadReply, resolveStart } from './cursor.js'
import { type StreamEvent, streamEvent } from './event.js'
import { Fanout, type Subscription } from './fanout.js'
import { keepTrace, startDelivery } from './tracing.js'
import {
  type AddStreamOptions,
  resolveAddStreamOptions,
  type ReaderOptions,
  resolveReaderOptions,
  type ResolvedReaderOptions,
} from './options.js'
import type { StreamHandle as Stream } from './stream-handle.js'
import { checkSameSlot } from './stream-slot.js'

export interface ReaderStats {
  /** Events pushed to the subscriptions. */
  readonly delivered: number
  /** Events the topic filter left out. */
  readonly filtered: number
  /** Entries that are not Pulse's, skipped. */
  readonly malformed: number
}

export class Reader extends Closeable implements AsyncIterable<StreamEvent> {
  readonly #options: ResolvedReaderOptions
  readonly #logger: Logger
  readonly #redis: PulseRedis
  readonly #fanout: Fanout<StreamEvent>
  /** Stream key → the id to read after. */
  readonly #cursors = new Map<string, string>()
  /** Stream key → the stream's name, as the user gave it. */
  readonly #names = new Map<string, string>()
  /** The stream the reader was made from (on a cluster, the others share its slot). */
  readonly #first: Stream
  #loop: Promise<void> | undefined
  /** The connection of the blocking reads (on a cluster, a node of the blocking cluster) and its CLIENT ID. */
  #blockingNode: Redis | undefined
  #blockingId: number | undefined
  #streamsChanged: (() => void) | undefined
  #stats = { delivered: 0, filtered: 0, malformed: 0 }

  private constructor(stream: Stream, options: ResolvedReaderOptions) {
    super({ name: `Reader of "${stream.name}"`, closeTimeoutMs: 5_000 })
    this.#first = stream
    this.#options = options
    this.#logger = stream.options.logger
    this.#redis = createRedis(stream.source, { name: `pulse:reader:${stream.name}` })
    this.#fanout = new Fanout(options.bufferSize)
    this.#fanout.onSubscribe = () => {
      this.#loop ??= this.#run()
    }
    this.#fanout.onTake = startDelivery
    options.signal?.addEventListener('abort', () => void this.close().catch(() => undefined), { once: true })
  }

  static async open(stream: Stream, options?: ReaderOptions): Promise<Reader> {
    const reader = new Reader(stream, resolveReaderOptions(options))
    try {
      reader.#options.signal?.throwIfAborted()
      await reader.#add(stream, reader.#options.start)
    } catch (error) {
      await reader.close()
      throw error
    }
    return reader
  }

  /** A new subscription: an async iterator of every event from here on (and of what is held). */
  subscribe(): Subscription<StreamEvent> {
    this.assertOpen('subscribe')
    return this.#fanout.subscribe()
  }

  [Symbol.asyncIterator](): Subscription<StreamEvent> {
    return this.subscribe()
  }

  /** Reads `stream` too, from `options.start` (default: the reader's own start, resolved now). */
  async addStream(stream: Stream, options?: AddStreamOptions): Promise<void> {
    this.assertOpen('addStream')
    if (this.#cursors.has(stream.key)) return
    checkSameSlot(`Reader of "${this.#first.name}"`, this.#first, stream)
    await this.#add(stream, resolveAddStreamOptions(options, this.#options.start))
    await this.#interrupt()
  }

  /** Stops reading `stream` (idempotent). */
  async removeStream(stream: Stream): Promise<void> {
    this.assertOpen('removeStream')
    this.#names.delete(stream.key)
    if (this.#cursors.delete(stream.key)) await this.#interrupt()
  }

  /** The stream names read, in the order they were added. */
  get streams(): string[] {
    return [...this.#cursors.keys()].map((key) => this.#names.get(key) ?? key)
  }

  get closed(): boolean {
    return this.state !== 'open'
  }

  stats(): ReaderStats {
    return { ...this.#stats }
  }

  async #add(stream: Stream, start: ReaderOptions['start'] & {}): Promise<void> {
    const id = await resolveStart(this.#redis.client, stream.key, start)
    this.#cursors.set(stream.key, id)
    this.#names.set(stream.key, stream.name)
    this.#streamsChanged?.()
  }

  /** Makes a blocked XREAD return now, so the next one reads the new set of streams. */
  async #interrupt(): Promise<void> {
    const id = this.#blockingId
    if (id === undefined) return
    // Client ids are per server: on a cluster, UNBLOCK goes to the node of the blocked read.
    const at = this.#redis.cluster && this.#blockingNode !== undefined ? nodeKey(this.#blockingNode) : undefined
    const client =
      at === undefined
        ? this.#redis.client
        : (this.#redis.client as unknown as Cluster).nodes('all').find((node) => nodeKey(node) === at)
    await client?.client('UNBLOCK', id).catch(() => undefined)
  }

  async #run(): Promise<void> {
    const signal = this.signal
    let failures = 0
    while (!signal.aborted) {
      try {
        await this.#fanout.whenSpace()
        if (this.#cursors.size === 0) await new Promise<void>((resolve) => (this.#streamsChanged = resolve))
        if (signal.aborted) break
        await this.#readOnce()
        failures = 0
      } catch (error) {
        if (signal.aborted) break
        this.#logger.warn({ err: error }, 'pulse reader: read failed, retrying')
        if (this.#redis.cluster && isTopologyError(error) && this.#redis.state === 'open') {
          await refreshSlots(this.#redis.blocking() as unknown as Cluster).catch(() => undefined)
        }
        await sleep(reconnectDelayMs(++failures, 50, 5_000), signal).catch(() => undefined)
      }
    }
  }

  /** The connection for the next blocking read, its CLIENT ID known. */
  async #blockingConnection(): Promise<Redis> {
    const blocking = this.#redis.blocking()
    const node = this.#redis.cluster
      ? await slotMaster(blocking as unknown as Cluster, keySlot(this.#first.key))
      : blocking
    if (node !== this.#blockingNode || this.#blockingId === undefined) {
      this.#blockingNode = node
      this.#blockingId = undefined
      node.once('close', () => {
        if (this.#blockingNode === node) this.#blockingId = undefined
      })
      this.#blockingId = await node.client('ID')
    }
    return node
  }

  async #readOnce(): Promise<void> {
    const blocking = await this.#blockingConnection()
    const keys = [...this.#cursors.keys()]
    const ids = keys.map((key) => this.#cursors.get(key) ?? '0-0')
    const count = Math.min(this.#options.maxPolled, Math.max(1, this.#fanout.space))
    const reply = await blocking.callBuffer(
      'XREAD',
      'COUNT',
      count,
      'BLOCK',
      this.#options.blockMs,
      'STREAMS',
      ...keys,
      ...ids,
    )
    for (const batch of parseReadReply(reply)) {
      if (!this.#cursors.has(batch.key) || batch.lastId === undefined) continue
      this.#cursors.set(batch.key, batch.lastId)
      this.#deliver(this.#names.get(batch.key) ?? batch.key, batch.entries, batch.malformed)
    }
  }

  #deliver(
    streamName: string,
    entries: readonly Parameters<typeof streamEvent>[1][],
    malformed: readonly string[],
  ): void {
    if (malformed.length > 0) {
      this.#stats.malformed += malformed.length
      this.#logger.warn(
        { stream: streamName, ids: malformed, code: 'PULSE_ERR_STREAM_MALFORMED_ENTRY' },
        'pulse reader: skipped entries that are not Pulse events',
      )
    }
    const filter = this.#options.filter
    const events: StreamEvent[] = []
    for (const entry of entries) {
      if (filter !== undefined && !filter(entry.topic)) this.#stats.filtered++
      else {
        const event = streamEvent(streamName, entry)
        keepTrace(event, entry.trace)
        events.push(event)
      }
    }
    this.#stats.delivered += events.length
    this.#fanout.push(events)
  }

  /** Ends the subscriptions, closes the connection (cancelling a blocked read) and waits for the loop. */
  protected async onClose(): Promise<void> {
    this.#fanout.end()
    this.#streamsChanged?.()
    await this.#redis.close()
    await this.#loop
  }
}
