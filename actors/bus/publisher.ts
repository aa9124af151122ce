/**
 * The publishing side of a `Bus`: `put` of one event or a batch (the puts of a tick go to Redis together,
 * `append-queue.ts`: dedup, XADDs, the event-id index, the counter behind `X-BUS-EVENT-INDEX`, the trim,
 * in one script call per namespace), a put that waits for
 * `confirm: n` consumers, a request (a put with an inbox, then a wait for the first reply), inbox
 * publishes (pub/sub, never persisted) and the consumers' confirmations. It remembers the highest entry
 * id each namespace's puts got back, which new subscriptions start from (`lastPut`).
 */
import type { Redis } from 'ioredis'

import { InvalidArgumentError, NoResponderError, TimeoutError } from '../../runtime/errors.js'
import { anySignal } from '../../runtime/lifecycle.js'
import { checkDurationMs, checkInteger, checkKnownKeys, checkSignal, checkString } from '../../runtime/options.js'
import type { BusEntry, BusEntryFields } from '../../transports/redis/bus/entry.js'
import { compareEntryIds } from '../../transports/redis/bus/entry.js'
import type { InboxConnection } from '../../transports/redis/bus/inbox.js'
import type { BusKeys } from '../../transports/redis/bus/keys.js'
import { busConfirm } from '../../transports/redis/bus/scripts.js'
import { AppendQueue, type Confirmation } from './append-queue.js'
import { within } from './deadline.js'
import { checkEventId, newEventId, newInbox } from './ids.js'
import type { BusMetrics } from './metrics.js'
import type { ResolvedBusOptions } from './options.js'
import type { Payload } from './record.js'
import { encodeRecord, formatTime, parseRecord, toPayload } from './record.js'
import { checkSubject, hasWildcard, kInboxNamespace, namespaceOf } from './subject.js'
import { endPut, startPut, startPutBatch } from './tracing.js'
import type { BatchItem, PutOptions, PutResult, RequestOptions } from './types.js'

/** What the publisher needs of its `Bus`. */
export interface PublisherHost {
  readonly client: Redis
  readonly keys: BusKeys
  readonly options: ResolvedBusOptions
  readonly metrics: BusMetrics | undefined
  readonly inboxes: InboxConnection
  /** Aborts when the bus closes: a wait for confirmations or for a reply ends. */
  readonly signal: AbortSignal
  /** The pub/sub channel of an inbox subject. */
  channel(inbox: string): string
  /** The namespace of `subject`; `InvalidArgumentError` (naming `option`) for one the bus does not have. */
  namespace(subject: string, option: string): string
  hasSubscriber(subject: string): Promise<boolean>
}

export class Publisher {
  readonly #host: PublisherHost
  /** Namespace → the highest entry id this bus's own puts got back. */
  readonly #lastPut = new Map<string, string>()
  readonly #queue: AppendQueue

  constructor(host: PublisherHost) {
    this.#host = host
    this.#queue = new AppendQueue(host)
  }

  /** The highest entry id the puts to `ns` got back, if any. */
  lastPut(ns: string): string | undefined {
    return this.#lastPut.get(ns)
  }

  /** One event (`put(subject, payload, options)`), validated here. */
  async putOne(subject: string, payload: Payload | undefined, options: PutOptions): Promise<PutResult> {
    checkKnownKeys(options, [
      'id',
      'key',
      'traceId',
      'confirm',
      'timeoutMs',
      'signal',
      'responseSubject',
      'requireSubscriber',
      'createdAt',
    ])
    checkSubject(subject)
    const ns = this.#host.namespace(subject, 'subject')
    if (options.id !== undefined) checkEventId(options.id, 'options.id')
    if (options.key !== undefined) checkString(options.key, 'options.key')
    if (options.traceId !== undefined) checkString(options.traceId, 'options.traceId')
    const confirm = options.confirm === undefined ? 0 : checkInteger(options.confirm, 'options.confirm', { min: 0 })
    if (options.timeoutMs !== undefined) checkDurationMs(options.timeoutMs, 'options.timeoutMs', { min: 1 })
    if (options.signal !== undefined) checkSignal(options.signal, 'options.signal')
    if (options.responseSubject !== undefined) {
      checkSubject(options.responseSubject, 'options.responseSubject')
      if (confirm > 0)
        throw new InvalidArgumentError(
          'options.confirm and options.responseSubject exclude each other (response subject already set)',
          { data: { option: 'options.confirm' } },
        )
    }
    let createdAt = new Date()
    if (options.createdAt !== undefined) {
      const given = new Date(checkString(options.createdAt, 'options.createdAt', { nonEmpty: true }))
      if (Number.isNaN(given.getTime()))
        throw new InvalidArgumentError('options.createdAt must be an RFC 3339 time', {
          data: { option: 'options.createdAt' },
        })
      createdAt = given
    }
    const fields: BusEntryFields = {
      id: options.id ?? newEventId(),
      subject,
      createdAt: formatTime(createdAt),
      key: options.key,
      traceId: options.traceId,
      responseSubject: options.responseSubject,
      payload: toPayload(payload),
    }
    if (options.requireSubscriber === true && !(await this.#host.hasSubscriber(subject))) {
      throw new NoResponderError(`no subscriber for subject ${subject}`, { data: { subject } })
    }
    if (ns === kInboxNamespace) return this.publishInbox(fields)
    const { span, traceContext } = startPut(subject)
    const traced = traceContext === undefined ? fields : { ...fields, traceContext }
    try {
      const result =
        confirm === 0
          ? ((await this.#append(ns, [traced]))[0] as PutResult)
          : await this.#putConfirmed(
              ns,
              traced,
              confirm,
              options.timeoutMs ?? this.#host.options.confirmTimeoutMs,
              options.signal,
            )
      endPut(span, { id: result.id })
      return result
    } catch (error) {
      endPut(span, { error })
      throw error
    }
  }

  /** A batch, all in one namespace, all or nothing (`put(items)`). */
  async putBatch(items: readonly BatchItem[], options: Pick<PutOptions, 'signal'>): Promise<PutResult[]> {
    checkKnownKeys(options, ['signal'])
    if (items.length === 0) throw new InvalidArgumentError('empty batch', { data: { option: 'items' } })
    let ns: string | undefined
    const now = formatTime(new Date())
    const events = items.map((item, i) => {
      checkKnownKeys(item, ['subject', 'payload', 'id', 'key', 'traceId'], `items[${i}]`)
      checkSubject(item.subject, `items[${i}].subject`)
      const itemNs = this.#host.namespace(item.subject, `items[${i}].subject`)
      if (itemNs === kInboxNamespace)
        throw new InvalidArgumentError('batch cannot publish to the reserved _bus_ namespace', {
          data: { option: `items[${i}].subject` },
        })
      if (ns !== undefined && itemNs !== ns)
        throw new InvalidArgumentError('all events in batch must belong to the same namespace', {
          data: { option: `items[${i}].subject` },
        })
      ns = itemNs
      if (item.id !== undefined) checkEventId(item.id, `items[${i}].id`)
      if (item.key !== undefined) checkString(item.key, `items[${i}].key`)
      if (item.traceId !== undefined) checkString(item.traceId, `items[${i}].traceId`)
      return {
        id: item.id ?? newEventId(),
        subject: item.subject,
        createdAt: now,
        key: item.key,
        traceId: item.traceId,
        payload: toPayload(item.payload),
      } satisfies BusEntryFields
    })
    options.signal?.throwIfAborted()
    const { span, traceContext } = startPutBatch(events)
    try {
      const results = await this.#append(
        ns as string,
        traceContext === undefined ? events : events.map((event) => ({ ...event, traceContext })),
      )
      endPut(span, { id: undefined })
      return results
    } catch (error) {
      endPut(span, { error })
      throw error
    }
  }

  /** Appends `events` with the other puts of this tick (append-queue.ts); `confirm` adds the inbox's hash. */
  async #append(ns: string, events: readonly BusEntryFields[], confirm?: Confirmation): Promise<PutResult[]> {
    const { entryIds, seq } = await this.#queue.append(ns, events, confirm)
    const last = entryIds[entryIds.length - 1] as string
    const known = this.#lastPut.get(ns)
    if (known === undefined || compareEntryIds(last, known) > 0) this.#lastPut.set(ns, last)
    this.#host.metrics?.published.inc({ namespace: ns }, events.length)
    return events.map((event, i) => ({
      id: event.id,
      index: seq - events.length + i,
      createdAt: new Date(event.createdAt),
      createdAtText: event.createdAt,
    }))
  }

  /** Sends the puts queued now instead of at the end of the tick (the bus is closing). */
  flush(): void {
    this.#queue.flush()
  }

  /** Publishes to an inbox subject: pub/sub only, never persisted. */
  async publishInbox(fields: BusEntryFields): Promise<PutResult> {
    if (hasWildcard(fields.subject))
      throw new InvalidArgumentError('inbox subjects cannot contain wildcards', { data: { subject: fields.subject } })
    await this.#host.client.publish(this.#host.channel(fields.subject), encodeRecord(fields))
    return { id: fields.id, index: -1, createdAt: new Date(fields.createdAt), createdAtText: fields.createdAt }
  }

  async #putConfirmed(
    ns: string,
    fields: BusEntryFields,
    want: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<PutResult> {
    const inbox = newInbox()
    const consumers = new Set<string>()
    let done: () => void = () => {}
    const enough = new Promise<void>((resolve) => (done = resolve))
    const stop = await this.#host.inboxes.subscribe(this.#host.channel(inbox), (message) => {
      try {
        const key = parseRecord(message.toString('utf8')).key
        if (key?.startsWith('c_') === true) consumers.add(key)
      } catch {
        return
      }
      if (consumers.size >= want) done()
    })
    const combined = anySignal([signal, this.#host.signal])
    const any = combined.signal
    try {
      const [result] = await this.#append(ns, [{ ...fields, responseSubject: inbox }], {
        inbox,
        want,
        ttlMs: timeoutMs + 60_000,
      })
      const confirmed = await within(
        enough.then(() => true),
        timeoutMs,
        any,
      )
      if (confirmed !== true) {
        const acked = Math.max(0, (await this.#host.client.hlen(this.#host.keys.confirm(ns, inbox))) - 1)
        if (acked < want) {
          throw new TimeoutError(
            `put ${fields.subject}: ${acked} of ${want} consumers confirmed within ${timeoutMs} ms (the event is published)`,
            {
              data: { id: fields.id, subject: fields.subject, confirmed: acked, wanted: want, timeoutMs },
            },
          )
        }
      }
      return result as PutResult
    } finally {
      combined.dispose()
      await stop()
    }
  }

  /** Records `consumerId`'s ack of `entry` when it was published with `confirm`. */
  async confirm(entry: BusEntry, consumerId: string): Promise<void> {
    const inbox = entry.responseSubject
    const ns = namespaceOf(entry.subject)
    if (inbox === undefined || ns === undefined) return
    const record = encodeRecord({
      id: newEventId(),
      key: consumerId,
      subject: inbox,
      createdAt: formatTime(new Date()),
      payload: Buffer.alloc(0),
    })
    await busConfirm.run(
      this.#host.client,
      [this.#host.keys.confirm(ns, inbox)],
      [consumerId, record, 3_600_000, this.#host.channel(inbox)],
    )
  }

  /**
   * Publishes a request and resolves with the first reply's payload. Rejects with `NoResponderError`
   * when no subscription matches the subject (at once) or no reply comes within `timeoutMs`.
   */
  async request(subject: string, payload?: Payload, options: RequestOptions = {}): Promise<Buffer> {
    checkKnownKeys(options, ['timeoutMs', 'signal', 'key', 'traceId'])
    checkSubject(subject)
    const ns = this.#host.namespace(subject, 'subject')
    if (ns === kInboxNamespace)
      throw new InvalidArgumentError('cannot send a request to an inbox subject', { data: { subject } })
    const timeoutMs =
      options.timeoutMs === undefined
        ? this.#host.options.requestTimeoutMs
        : checkDurationMs(options.timeoutMs, 'options.timeoutMs', { min: 1 })
    if (!(await this.#host.hasSubscriber(subject)))
      throw new NoResponderError(`no subscriber for subject ${subject}`, { data: { subject } })
    const inbox = newInbox()
    let resolveReply: (payload: Buffer) => void = () => {}
    const replied = new Promise<Buffer>((resolve) => (resolveReply = resolve))
    const stop = await this.#host.inboxes.subscribe(this.#host.channel(inbox), (message) => {
      try {
        const record = parseRecord(message.toString('utf8'))
        if (record.key?.startsWith('c_') === true && record.payload.length === 0) return // a confirmation, not a reply
        resolveReply(record.payload)
      } catch {
        // not a record: ignored
      }
    })
    const combined = anySignal([options.signal, this.#host.signal])
    const signal = combined.signal
    try {
      const put: PutOptions = { responseSubject: inbox }
      if (options.key !== undefined) put.key = options.key
      if (options.traceId !== undefined) put.traceId = options.traceId
      await this.putOne(subject, payload, put)
      const outcome = await within(replied, timeoutMs, signal)
      if (outcome === undefined)
        throw new NoResponderError(`no reply to ${subject} within ${timeoutMs} ms`, { data: { subject, timeoutMs } })
      return outcome
    } finally {
      combined.dispose()
      await stop()
    }
  }
}
