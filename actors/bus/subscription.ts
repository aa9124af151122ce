/**
 * One `bus.get(pattern)`: an async iterator of the matching events of one namespace, from its start.
 *
 * Where events come from. The bus runs one tail loop (XREAD BLOCK over every namespace's stream, on a
 * connection of its own) and offers each batch it reads, with the id it read after (`prevId`), to the
 * subscriptions of that namespace. A subscription whose cursor is at or past `prevId` takes the matching
 * entries straight from the batch: no extra Redis round trip per subscriber. One that is behind — it
 * starts in the past, its buffer is full (`bufferSize`), or it was reading when a batch came — reads the
 * stream itself with XRANGE from its cursor until it has caught up, then takes batches again. So memory
 * per subscription is bounded by `bufferSize`, nothing is skipped, and each sees its namespace in order.
 *
 * Acks. `ack: 'none'` yields events as fast as the consumer takes them. `ack: 'manual'` holds one event
 * in flight: `next()` waits until it is acked (`ev.ack()`), or until `redelivery.delayMs` passes, when it
 * yields the same event again — up to `redelivery.count` deliveries in total (0: unlimited), after which
 * the event is dropped and the next one comes.
 *
 * Durable consumers (`durable: name`) keep their cursor in Redis (`{ns}:durable:<name>`): it moves past
 * an event when it is acked or dropped (manual), or when the consumer asks for the next one (none), and
 * a new subscription with the name starts after it, whatever its `start`. An ack saves the cursor before
 * it records the event's confirmation, so a confirmed event does not come back to the durable consumer.
 */
import type { Redis } from 'ioredis'

import { coerceError, InvalidArgumentError } from '../../runtime/errors.js'
import { sleep } from '../../runtime/lifecycle.js'
import type { Logger } from '../../runtime/logger.js'
import type { Span } from '../../runtime/tracing.js'
import { reconnectDelayMs } from '../../transports/redis/connection.js'
import type { BusEntry } from '../../transports/redis/bus/entry.js'
import { compareEntryIds, decodeBusEntries } from '../../transports/redis/bus/entry.js'
import type { BusKeys } from '../../transports/redis/bus/keys.js'
import { busCursor } from '../../transports/redis/bus/scripts.js'
import { newConsumerId } from './ids.js'
import type { BusMetrics } from './metrics.js'
import type { ResolvedGetOptions } from './options.js'
import { type BusRecord, encodeRecord } from './record.js'
import { compilePattern } from './subject.js'
import { endDelivery, startDelivery } from './tracing.js'

/** One delivery of an event. */
export interface BusEvent {
  readonly id: string
  readonly subject: string
  /** The payload's raw JSON bytes (empty when the event has none). */
  readonly payload: Buffer
  readonly createdAt: Date
  readonly key: string | undefined
  readonly traceId: string | undefined
  /** The inbox a reply or confirmation goes to (`_bus_.…`), when the publisher asked for one. */
  readonly responseSubject: string | undefined
  /** The consumer this delivery belongs to (`c_…`). */
  readonly consumerId: string
  /** 1 for the first delivery, 2 for the first redelivery, … */
  readonly delivery: number
  /** The canonical record JSON (what SSE streams as `data`). */
  readonly record: string
  /**
   * Acks the event: with `ack: 'manual'` it releases the next one (and moves a durable cursor); an
   * event published with `confirm` counts this consumer. Idempotent.
   */
  ack(): Promise<void>
}

/** A first delivery of a parsed record (an inbox reply, an SSE event of `BusClient`), acked by `ack`. */
export function recordEvent(record: BusRecord, text: string, consumerId: string, ack: () => Promise<void>): BusEvent {
  return {
    id: record.id,
    subject: record.subject,
    payload: record.payload,
    createdAt: new Date(record.createdAt),
    key: record.key,
    traceId: record.traceId,
    responseSubject: record.responseSubject,
    consumerId,
    delivery: 1,
    record: text,
    ack,
  }
}

/** What a subscription needs from its bus. */
export interface SubscriptionHost {
  readonly client: Redis
  readonly keys: BusKeys
  readonly logger: Logger
  readonly batchSize: number
  readonly bufferSize: number
  /** The bus's metrics, with its `metrics` option. */
  readonly metrics: BusMetrics | undefined
  /** The position `'newest'` means now in `ns`. */
  newest(ns: string): string
  /** Records a consumer's ack of an event that wants confirmations. */
  confirm(entry: BusEntry, consumerId: string): Promise<void>
  register(subscription: BusSubscription): Promise<void>
  detach(subscription: BusSubscription): void
}

/** Every event object knows its entry and delivery; the record JSON is built once per entry. */
const kRecords = new WeakMap<BusEntry, string>()

export function recordOf(entry: BusEntry): string {
  let record = kRecords.get(entry)
  if (record === undefined) {
    record = encodeRecord(entry)
    kRecords.set(entry, record)
  }
  return record
}

class InFlight {
  readonly entry: BusEntry
  deliveries = 1
  acked = false
  timer: NodeJS.Timeout | undefined
  settled!: Promise<void>
  #release: () => void = () => {}

  constructor(entry: BusEntry) {
    this.entry = entry
    this.rearm()
  }

  rearm(): void {
    this.settled = new Promise((resolve) => (this.#release = resolve))
  }

  release(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.#release()
  }
}

const kRecent = 256

export class BusSubscription implements AsyncIterableIterator<BusEvent> {
  readonly consumerId = newConsumerId()
  readonly pattern: string
  readonly namespace: string
  readonly options: ResolvedGetOptions
  /** Resolves once the start position is known and the subscription is announced in Redis. */
  readonly ready: Promise<void>
  readonly #host: SubscriptionHost
  readonly #match: (subject: string) => boolean
  readonly #closeController = new AbortController()
  #cursor = '0-0'
  #buffer: BusEntry[] = []
  #behind = true
  #fetching = false
  #missed = false
  #startError: Error | undefined
  #wake: (() => void) | undefined
  #closed = false
  /** `ready` has settled: `next()` need not wait for it. */
  #started = false
  #inFlight: InFlight | undefined
  #lastYielded: BusEntry | undefined
  /** ack: none — the last events yielded, by id, for acks by id (HTTP). */
  readonly #recent = new Map<string, BusEntry>()
  #cursorWrites: Promise<unknown> = Promise.resolve()
  readonly #delivered: { inc(): void } | undefined
  readonly #redelivered: { inc(): void } | undefined
  #onAbort: (() => void) | undefined
  /** The `process` span of the event last yielded, until the consumer moves on (tracing.ts). */
  #delivery: Span | undefined

  constructor(host: SubscriptionHost, pattern: string, namespace: string, options: ResolvedGetOptions) {
    this.#host = host
    this.pattern = pattern
    this.namespace = namespace
    const labels = { namespace }
    this.#delivered = host.metrics?.delivered.labels(labels)
    this.#redelivered = host.metrics?.redelivered.labels(labels)
    this.options = options
    this.#match = compilePattern(pattern)
    // 'newest' is taken now, so that every event published after get() returned is seen.
    if (options.start === 'newest') this.#cursor = host.newest(namespace)
    this.ready = this.#resolveStart().then(
      () =>
        host
          .register(this)
          .catch((error: unknown) => host.logger.warn({ err: error }, 'pulse bus: could not announce a subscription')),
      (error: unknown) => {
        this.#startError = coerceError(error)
      },
    )
    void this.ready.then(() => (this.#started = true))
    const signal = options.signal
    if (signal !== undefined) {
      this.#onAbort = () => void this.return()
      if (signal.aborted) queueMicrotask(this.#onAbort)
      else signal.addEventListener('abort', this.#onAbort, { once: true })
    }
  }

  get closed(): boolean {
    return this.#closed
  }

  /** The id of the event in flight (manual ack), if any. */
  get inFlightId(): string | undefined {
    return this.#inFlight?.entry.id
  }

  async #resolveStart(): Promise<void> {
    const { client, keys } = this.#host
    const { durable, start } = this.options
    if (durable !== undefined) {
      const cursor = await client.hget(keys.durable(this.namespace, durable), 'cursor')
      if (cursor !== null) {
        this.#cursor = cursor
        return
      }
    }
    if (start === 'oldest') this.#cursor = '0-0'
    else if (start === 'newest') return
    else if (/^\d+-\d+$/.test(start)) this.#cursor = start
    else {
      const entryId = await client.hget(keys.ids(this.namespace), start)
      if (entryId === null) {
        throw new InvalidArgumentError(`start event id ${start} not found in namespace ${this.namespace}`, {
          data: { start, namespace: this.namespace },
        })
      }
      this.#cursor = entryId
    }
  }

  /** A batch the tail loop read after `prevId` (see the module comment). */
  offer(prevId: string, entries: readonly BusEntry[], lastId: string): void {
    if (this.#closed) return
    if (this.#fetching) {
      this.#missed = true
      return
    }
    if (this.#behind) return
    if (this.#buffer.length >= this.#host.bufferSize || compareEntryIds(this.#cursor, prevId) < 0) {
      this.#behind = true
      this.#wakeUp()
      return
    }
    let added = false
    for (const entry of entries) {
      if (compareEntryIds(entry.entryId, this.#cursor) > 0 && this.#match(entry.subject)) {
        this.#buffer.push(entry)
        added = true
      }
    }
    if (compareEntryIds(lastId, this.#cursor) > 0) this.#cursor = lastId
    if (added) this.#wakeUp()
  }

  #wakeUp(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  async next(): Promise<IteratorResult<BusEvent>> {
    this.#endDelivery()
    if (this.#closed) return { done: true, value: undefined }
    if (!this.#started) await this.ready
    if (this.#startError !== undefined) {
      const error = this.#startError
      await this.return()
      throw error
    }
    const inFlight = this.#inFlight
    if (inFlight !== undefined) {
      if (!inFlight.acked) await inFlight.settled
      if (this.#closed) return { done: true, value: undefined }
      if (!inFlight.acked) {
        const { count } = this.options
        if (count <= 0 || inFlight.deliveries < count) {
          inFlight.deliveries++
          inFlight.rearm()
          this.#arm(inFlight)
          this.#delivery = startDelivery(inFlight.entry, this.pattern)
          return { done: false, value: this.#event(inFlight.entry, inFlight.deliveries) }
        }
        this.#host.logger.warn(
          { id: inFlight.entry.id, consumer: this.consumerId, deliveries: inFlight.deliveries },
          'pulse bus: redelivery count exceeded, dropping event',
        )
        this.#advanceDurable(inFlight.entry)
      }
      this.#inFlight = undefined
    }
    if (this.#lastYielded !== undefined) {
      this.#advanceDurable(this.#lastYielded)
      this.#lastYielded = undefined
    }
    // The common case, an event buffered, takes no wait.
    const entry = (this.#closed ? undefined : this.#buffer.shift()) ?? (await this.#nextEntry())
    if (entry === undefined) return { done: true, value: undefined }
    if (this.options.ack === 'manual') {
      const flight = new InFlight(entry)
      this.#inFlight = flight
      this.#arm(flight)
    } else {
      this.#lastYielded = entry
      this.#recent.set(entry.id, entry)
      if (this.#recent.size > kRecent) this.#recent.delete(this.#recent.keys().next().value as string)
    }
    this.#delivery = startDelivery(entry, this.pattern)
    return { done: false, value: this.#event(entry, 1) }
  }

  #endDelivery(): void {
    const span = this.#delivery
    if (span === undefined) return
    this.#delivery = undefined
    endDelivery(span)
  }

  #arm(flight: InFlight): void {
    flight.timer = setTimeout(() => {
      flight.timer = undefined
      flight.release()
    }, this.options.delayMs)
  }

  #event(entry: BusEntry, delivery: number): BusEvent {
    this.#delivered?.inc()
    if (delivery > 1) this.#redelivered?.inc()
    const ack = () => this.#ack(entry)
    const consumerId = this.consumerId
    let createdAt: Date | undefined
    return {
      id: entry.id,
      subject: entry.subject,
      payload: entry.payload,
      // Parsed on first use: most consumers never read it.
      get createdAt() {
        return (createdAt ??= new Date(entry.createdAt))
      },
      key: entry.key,
      traceId: entry.traceId,
      responseSubject: entry.responseSubject,
      consumerId,
      delivery,
      get record() {
        return recordOf(entry)
      },
      ack,
    }
  }

  async #ack(entry: BusEntry): Promise<void> {
    const flight = this.#inFlight
    if (flight !== undefined && flight.entry === entry && !flight.acked) {
      flight.acked = true
      flight.release()
      this.#advanceDurable(entry)
    }
    // The durable cursor moves before the confirmation is recorded: an event its publisher saw confirmed is
    // never delivered again to this durable consumer (a crash in between leaves it unconfirmed instead).
    await this.#cursorWrites
    if (entry.responseSubject !== undefined) await this.#host.confirm(entry, this.consumerId)
  }

  /** Acks by event id (the HTTP API's PUT): the event in flight, or one recently yielded. */
  async ackById(eventId: string): Promise<boolean> {
    const flight = this.#inFlight
    const entry = flight !== undefined && flight.entry.id === eventId ? flight.entry : this.#recent.get(eventId)
    if (entry === undefined) return false
    await this.#ack(entry)
    return true
  }

  #advanceDurable(entry: BusEntry): void {
    const name = this.options.durable
    if (name === undefined) return
    const key = this.#host.keys.durable(this.namespace, name)
    this.#cursorWrites = this.#cursorWrites
      .then(() => busCursor.run(this.#host.client, [key], [entry.entryId, this.pattern]))
      .catch((error: unknown) =>
        this.#host.logger.warn({ err: error, durable: name }, 'pulse bus: could not save a durable cursor'),
      )
  }

  async #nextEntry(): Promise<BusEntry | undefined> {
    let failures = 0
    for (;;) {
      if (this.#closed) return undefined
      const entry = this.#buffer.shift()
      if (entry !== undefined) return entry
      if (this.#behind) {
        try {
          await this.#fetch()
          failures = 0
        } catch (error) {
          if (this.#closed) return undefined
          this.#host.logger.warn({ err: error, consumer: this.consumerId }, 'pulse bus: read failed, retrying')
          await sleep(reconnectDelayMs(++failures, 50, 5_000), this.#closeController.signal).catch(() => undefined)
        }
        continue
      }
      await new Promise<void>((resolve) => (this.#wake = resolve))
    }
  }

  async #fetch(): Promise<void> {
    const { client, keys, batchSize } = this.#host
    this.#fetching = true
    this.#missed = false
    try {
      // xrangeBuffer, not callBuffer('XRANGE', …): ioredis' auto-pipelining mangles callBuffer (it drops the
      // command name), and a client passed to Bus.connect may have it enabled.
      const reply = await client.xrangeBuffer(keys.log(this.namespace), `(${this.#cursor}`, '+', 'COUNT', batchSize)
      if (this.#closed) return
      const raw = Array.isArray(reply) ? reply.length : 0
      const { entries, lastId } = decodeBusEntries(reply)
      for (const entry of entries) if (this.#match(entry.subject)) this.#buffer.push(entry)
      if (lastId !== undefined) this.#cursor = lastId
      if (raw < batchSize && !this.#missed) this.#behind = false
    } finally {
      this.#fetching = false
    }
  }

  /** Ends the subscription (`break` out of `for await`); a pending `next()` resolves done. */
  async return(): Promise<IteratorResult<BusEvent>> {
    this.#endDelivery()
    if (!this.#closed) {
      this.#closed = true
      this.#closeController.abort()
      if (this.#onAbort !== undefined) this.options.signal?.removeEventListener('abort', this.#onAbort)
      if (this.#lastYielded !== undefined) this.#advanceDurable(this.#lastYielded)
      this.#inFlight?.release()
      this.#buffer = []
      this.#recent.clear()
      this.#wakeUp()
      this.#host.detach(this)
      await this.#cursorWrites
    }
    return { done: true, value: undefined }
  }

  /** Ends the subscription because its bus closes (no Redis writes: the connection is going). */
  end(): void {
    this.#endDelivery()
    if (this.#closed) return
    this.#closed = true
    this.#closeController.abort()
    if (this.#onAbort !== undefined) this.options.signal?.removeEventListener('abort', this.#onAbort)
    this.#inFlight?.release()
    this.#buffer = []
    this.#wakeUp()
  }

  /** Resolves when pending durable cursor writes are done. */
  flushed(): Promise<unknown> {
    return this.#cursorWrites
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
