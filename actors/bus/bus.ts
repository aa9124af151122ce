/**
 * `Bus`: subjects with wildcards over Redis streams — one stream per namespace (the subject's first
 * token), so publishes within a namespace are totally ordered and namespaces never block each other.
 *
 * Where things run: in the caller's process. `Bus.connect` opens a command connection, a blocking
 * connection for one tail loop (XREAD BLOCK over every namespace's stream; see `subscription.ts` for how
 * subscriptions share it), and, on first use, a pub/sub connection for inboxes. Nothing runs on other
 * threads: the work per event is a decode and a pattern match, cheaper than a thread hop.
 *
 * On a Redis Cluster (a `redis-cluster://` URL or an ioredis `Cluster`) the keys are the same — each
 * namespace's carry its `{<ns>}` hash tag (`transports/redis/bus/keys.ts`), so a namespace lives on one
 * master and its scripts run in its slot; there is no key layout to choose. What differs: one tail loop
 * per namespace, each on a blocking connection of its own (an XREAD over several slots is CROSSSLOT),
 * and commands that touch several namespaces are sent one per namespace.
 *
 * - `put` is one Lua script (`busPut-5`): the dedup check against keys kept in Redis with a TTL, the
 *   XADDs (a batch all or nothing), the event-id index, the counter behind `X-BUS-EVENT-INDEX`, and the
 *   trim to the retention (`maxLen`, `maxAgeMs`; none by default: every event is kept).
 * - `confirm: n` gives the event an inbox (`response_subject`); each consumer's `ack()` records its id
 *   in Redis (`busConfirm-1`) and, the first time, publishes on the inbox; `put` resolves once n distinct
 *   consumers did, and rejects with `TimeoutError` at its deadline (after a last count in Redis).
 * - `request` subscribes to a fresh inbox, publishes the request with it as `response_subject` (the
 *   request is persisted, as in the reference) and resolves with the first reply; `NoResponderError`
 *   when none comes in time — at once when no live subscription anywhere matches the subject (each bus
 *   announces its subscriptions in Redis, refreshed every `heartbeatMs`).
 * - Inbox subjects (`_bus_.…`) are never persisted: a publish goes to whoever listens now (pub/sub).
 */
import type { Cluster, Redis } from 'ioredis'

import {
  ClosedError,
  coerceError,
  DuplicateEventError,
  InvalidArgumentError,
  isPulseError,
  NoResponderError,
  TimeoutError,
} from '../../runtime/errors.js'
import { anySignal, Lifecycle, sleep } from '../../runtime/lifecycle.js'
import type { LifecycleState } from '../../runtime/lifecycle.js'
import type { Logger } from '../../runtime/logger.js'
import { checkDurationMs, checkInteger, checkKnownKeys, checkSignal, checkString } from '../../runtime/options.js'
import { createRedis, PulseRedis, reconnectDelayMs } from '../../transports/redis/connection.js'
import type { BusEntry, BusEntryFields } from '../../transports/redis/bus/entry.js'
import { compareEntryIds, decodeBusEntries, putArgs } from '../../transports/redis/bus/entry.js'
import { InboxConnection } from '../../transports/redis/bus/inbox.js'
import { BusKeys } from '../../transports/redis/bus/keys.js'
import { busConfirm, busPut } from '../../transports/redis/bus/scripts.js'
import { newEventId, newInbox } from './ids.js'
import { busMetrics, type BusMetrics } from './metrics.js'
import type { BusOptions, GetOptions, ResolvedBusOptions } from './options.js'
import { resolveBusOptions, resolveGetOptions } from './options.js'
import type { Payload } from './record.js'
import { encodeRecord, formatTime, parseRecord, toPayload } from './record.js'
import { checkPattern, checkSubject, hasWildcard, kInboxNamespace, matchSubject, namespaceOf } from './subject.js'
import type { BusEvent, SubscriptionHost } from './subscription.js'
import { BusSubscription } from './subscription.js'
import { endPut, startPut, startPutBatch } from './tracing.js'
import { InboxSubscription } from './inbox-subscription.js'
import type {
  BatchItem,
  PutOptions,
  PutResult,
  ReplyHandle,
  ReplyHandler,
  ReplyOptions,
  RequestOptions,
  Subscription,
} from './types.js'

/** A Redis URL (`redis-cluster://…` for a Redis Cluster), an ioredis `Redis` or `Cluster`, or a `PulseRedis`. */
type Source = string | Redis | Cluster | PulseRedis

export class Bus implements AsyncDisposable {
  readonly namespaces: readonly string[]
  readonly options: ResolvedBusOptions
  readonly keys: BusKeys
  readonly #redis: PulseRedis
  readonly #lifecycle: Lifecycle
  readonly #inboxes: InboxConnection
  readonly #logger: Logger
  /** Namespace → the tail loop's cursor (the id its next XREAD reads after). */
  readonly #tail = new Map<string, string>()
  /** Namespace → the highest entry id this bus's own puts got back. */
  readonly #lastPut = new Map<string, string>()
  readonly #subs = new Map<string, Set<BusSubscription>>()
  readonly #inboxSubs = new Set<InboxSubscription>()
  readonly #host: SubscriptionHost
  readonly #channelPrefix: string
  #loops: Promise<void>[] = []
  /** On a cluster: one connection per namespace, whose `blocking()` serves that namespace's tail loop. */
  readonly #tailConnections: PulseRedis[] = []
  #heartbeat: NodeJS.Timeout | undefined
  readonly #metrics: BusMetrics | undefined

  private constructor(redis: PulseRedis, options: ResolvedBusOptions) {
    this.#redis = redis
    this.options = options
    this.namespaces = options.namespaces
    this.#logger = options.logger
    this.#metrics = options.metrics === undefined ? undefined : busMetrics(options.metrics)
    this.keys = new BusKeys(options.keyPrefix)
    this.#channelPrefix = redis.client.options.keyPrefix ?? ''
    this.#inboxes = new InboxConnection(redis.client, redis.name)
    this.#inboxes.onError = (error) => this.#logger.warn({ err: error }, 'pulse bus: inbox connection error')
    for (const ns of this.namespaces) this.#subs.set(ns, new Set())
    this.#lifecycle = new Lifecycle({
      name: 'Bus',
      closeTimeoutMs: options.closeTimeoutMs,
      onClose: () => this.#close(),
      onDestroy: () => this.#destroy(),
    })
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const bus = this
    this.#host = {
      client: redis.client,
      keys: this.keys,
      logger: this.#logger,
      batchSize: options.batchSize,
      bufferSize: options.bufferSize,
      metrics: this.#metrics,
      newest: (ns) => bus.#newest(ns),
      confirm: (entry, consumerId) => bus.#confirm(entry, consumerId),
      register: (sub) => bus.#register(sub),
      detach: (sub) => bus.#detach(sub),
    }
  }

  /**
   * Connects to Redis (a URL, an ioredis client, or a `PulseRedis`; a client passed in is not closed by
   * `close()`) and starts the tail loop.
   */
  static async connect(redis: Source, options: BusOptions): Promise<Bus> {
    const resolved = resolveBusOptions(options)
    const connection =
      redis instanceof PulseRedis
        ? createRedis(redis.client, { name: 'pulse:bus' })
        : createRedis(redis, { name: 'pulse:bus' })
    const bus = new Bus(connection, resolved)
    try {
      await bus.#start()
    } catch (error) {
      await bus.close().catch(() => undefined)
      throw error
    }
    return bus
  }

  get state(): LifecycleState {
    return this.#lifecycle.state
  }

  get closed(): Promise<Error | undefined> {
    return this.#lifecycle.closed
  }

  async #start(): Promise<void> {
    // One command per namespace: the namespaces' logs are in different slots of a cluster.
    const client = this.#redis.client
    const replies = await Promise.all(
      this.namespaces.map((ns) => client.xrevrange(this.keys.log(ns), '+', '-', 'COUNT', 1)),
    )
    this.namespaces.forEach((ns, i) => {
      const last = replies[i]?.[0]
      this.#tail.set(ns, last === undefined ? '0-0' : last[0])
    })
    if (this.#redis.cluster) {
      // XREAD over several slots is CROSSSLOT, and blocking reads sharing a node's connection would
      // wait for each other: a tail loop per namespace, each on a blocking connection of its own.
      for (const ns of this.namespaces) {
        const own = createRedis(client, { name: 'pulse:bus' })
        this.#tailConnections.push(own)
        this.#loops.push(this.#run([ns], own))
      }
    } else {
      this.#loops.push(this.#run(this.namespaces, this.#redis))
    }
    this.#heartbeat = setInterval(() => void this.#announce(), this.options.heartbeatMs)
  }

  #newest(ns: string): string {
    const tail = this.#tail.get(ns) ?? '0-0'
    const put = this.#lastPut.get(ns)
    return put !== undefined && compareEntryIds(put, tail) > 0 ? put : tail
  }

  #namespace(subject: string, name: string): string {
    const ns = namespaceOf(subject)
    if (ns === undefined)
      throw new InvalidArgumentError(
        `${name} ${JSON.stringify(subject)} is invalid: invalid subject: missing namespace`,
        { data: { option: name, subject } },
      )
    if (ns !== kInboxNamespace && !this.#subs.has(ns)) {
      throw new InvalidArgumentError(`namespace not found: ${ns}`, { data: { option: name, subject, namespace: ns } })
    }
    return ns
  }

  // ---- put ---------------------------------------------------------------------------------------

  put(subject: string, payload?: Payload, options?: PutOptions): Promise<PutResult>
  put(items: readonly BatchItem[], options?: Pick<PutOptions, 'signal'>): Promise<PutResult[]>
  put(
    first: string | readonly BatchItem[],
    second?: Payload | Pick<PutOptions, 'signal'>,
    third?: PutOptions,
  ): Promise<PutResult | PutResult[]> {
    try {
      this.#lifecycle.assertOpen('put')
      if (Array.isArray(first))
        return this.#putBatch(first as readonly BatchItem[], (second ?? {}) as Pick<PutOptions, 'signal'>)
      return this.#putOne(first as string, second, third ?? {})
    } catch (error) {
      return Promise.reject(coerceError(error))
    }
  }

  async #putOne(subject: string, payload: Payload | undefined, options: PutOptions): Promise<PutResult> {
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
    const ns = this.#namespace(subject, 'subject')
    if (options.id !== undefined) checkString(options.id, 'options.id', { nonEmpty: true })
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
    if (options.requireSubscriber === true && !(await this.hasSubscriber(subject))) {
      throw new NoResponderError(`no subscriber for subject ${subject}`, { data: { subject } })
    }
    if (ns === kInboxNamespace) return this.#publishInbox(fields)
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
              options.timeoutMs ?? this.options.confirmTimeoutMs,
              options.signal,
            )
      endPut(span, { id: result.id })
      return result
    } catch (error) {
      endPut(span, { error })
      throw error
    }
  }

  async #putBatch(items: readonly BatchItem[], options: Pick<PutOptions, 'signal'>): Promise<PutResult[]> {
    checkKnownKeys(options, ['signal'])
    if (items.length === 0) throw new InvalidArgumentError('empty batch', { data: { option: 'items' } })
    let ns: string | undefined
    const now = formatTime(new Date())
    const events = items.map((item, i) => {
      checkKnownKeys(item, ['subject', 'payload', 'id', 'key', 'traceId'], `items[${i}]`)
      checkSubject(item.subject, `items[${i}].subject`)
      const itemNs = this.#namespace(item.subject, `items[${i}].subject`)
      if (itemNs === kInboxNamespace)
        throw new InvalidArgumentError('batch cannot publish to the reserved _bus_ namespace', {
          data: { option: `items[${i}].subject` },
        })
      if (ns !== undefined && itemNs !== ns)
        throw new InvalidArgumentError('all events in batch must belong to the same namespace', {
          data: { option: `items[${i}].subject` },
        })
      ns = itemNs
      if (item.id !== undefined) checkString(item.id, `items[${i}].id`, { nonEmpty: true })
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

  /** Runs `busPut-5`; `confirm` adds the confirmation hash for the inbox of the (single) event. */
  async #append(
    ns: string,
    events: readonly BusEntryFields[],
    confirm?: { inbox: string; want: number; ttlMs: number },
  ): Promise<PutResult[]> {
    const keys = [
      this.keys.log(ns),
      this.keys.ids(ns),
      this.keys.seq(ns),
      this.keys.dedup(ns),
      this.keys.confirm(ns, confirm?.inbox ?? ''),
    ]
    const { dedupTtlMs, maxLen, maxAgeMs } = this.options
    const args: (string | Buffer | number)[] = [
      dedupTtlMs,
      confirm?.want ?? 0,
      confirm?.ttlMs ?? 0,
      events.length,
      maxLen,
      maxAgeMs,
    ]
    for (const event of events) args.push(...putArgs(event))
    let reply: unknown
    try {
      reply = await busPut.run(this.#redis.client, keys, args)
    } catch (error) {
      const duplicate =
        isPulseError(error) && error.data?.reply === 'DUPLICATE' ? /DUPLICATE (\d+) (.*)$/.exec(error.message) : null
      if (duplicate !== null) {
        const i = Number(duplicate[1])
        throw new DuplicateEventError('key was processed before', {
          data: { subject: duplicate[2] ?? '', key: events[i]?.key ?? '', item: i },
        })
      }
      throw error
    }
    const ids = reply as (string | number)[]
    const seq = Number(ids[ids.length - 1])
    const last = ids[ids.length - 2] as string
    const known = this.#lastPut.get(ns)
    if (known === undefined || compareEntryIds(last, known) > 0) this.#lastPut.set(ns, last)
    this.#metrics?.published.inc({ namespace: ns }, events.length)
    return events.map((event, i) => ({
      id: event.id,
      index: seq - events.length + i,
      createdAt: new Date(event.createdAt),
      createdAtText: event.createdAt,
    }))
  }

  async #publishInbox(fields: BusEntryFields): Promise<PutResult> {
    if (hasWildcard(fields.subject))
      throw new InvalidArgumentError('inbox subjects cannot contain wildcards', { data: { subject: fields.subject } })
    await this.#redis.client.publish(this.#channel(fields.subject), encodeRecord(fields))
    return { id: fields.id, index: -1, createdAt: new Date(fields.createdAt), createdAtText: fields.createdAt }
  }

  #channel(inbox: string): string {
    return `${this.#channelPrefix}${this.keys.inbox(inbox)}`
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
    const stop = await this.#inboxes.subscribe(this.#channel(inbox), (message) => {
      try {
        const key = parseRecord(message.toString('utf8')).key
        if (key?.startsWith('c_') === true) consumers.add(key)
      } catch {
        return
      }
      if (consumers.size >= want) done()
    })
    const combined = anySignal([signal, this.#lifecycle.signal])
    const any = combined.signal
    try {
      const [result] = await this.#append(ns, [{ ...fields, responseSubject: inbox }], {
        inbox,
        want,
        ttlMs: timeoutMs + 60_000,
      })
      const outcome = await Promise.race([
        enough.then(() => 'done' as const),
        sleep(timeoutMs, any).then(() => 'timeout' as const),
      ])
      if (outcome === 'timeout') {
        const acked = Math.max(0, (await this.#redis.client.hlen(this.keys.confirm(ns, inbox))) - 1)
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
  async #confirm(entry: BusEntry, consumerId: string): Promise<void> {
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
      this.#redis.client,
      [this.keys.confirm(ns, inbox)],
      [consumerId, record, 3_600_000, this.#channel(inbox)],
    )
  }

  // ---- get ---------------------------------------------------------------------------------------

  /**
   * Subscribes to `pattern` (`*` one token, `>` the rest) in its namespace; returns the iterator at
   * once. Invalid patterns and unknown namespaces throw `InvalidArgumentError` here; an unknown start
   * id rejects the first `next()`.
   */
  get(pattern: string, options?: GetOptions): Subscription {
    this.#lifecycle.assertOpen('get')
    if (namespaceOf(pattern) === kInboxNamespace) {
      if (hasWildcard(pattern))
        throw new InvalidArgumentError('inbox subjects cannot contain wildcards', {
          data: { option: 'pattern', subject: pattern },
        })
      checkPattern(pattern)
      const sub = new InboxSubscription(this.#inboxes, this.#channel(pattern), pattern, this.#logger, (s) =>
        this.#inboxSubs.delete(s),
      )
      this.#inboxSubs.add(sub)
      return sub
    }
    checkPattern(pattern)
    const ns = this.#namespace(pattern, 'pattern')
    const sub = new BusSubscription(this.#host, pattern, ns, resolveGetOptions(options))
    this.#subs.get(ns)?.add(sub)
    return sub
  }

  #member(sub: BusSubscription): string {
    return `${sub.pattern}\n${sub.consumerId}`
  }

  async #register(sub: BusSubscription): Promise<void> {
    if (sub.closed) return
    await this.#redis.client.zadd(
      this.keys.subs(sub.namespace),
      Date.now() + 3 * this.options.heartbeatMs,
      this.#member(sub),
    )
  }

  #detach(sub: BusSubscription): void {
    this.#subs.get(sub.namespace)?.delete(sub)
    if (this.#lifecycle.state === 'open') {
      void this.#redis.client.zrem(this.keys.subs(sub.namespace), this.#member(sub)).catch(() => undefined)
    }
  }

  async #announce(): Promise<void> {
    if (this.#lifecycle.state !== 'open') return
    const now = Date.now()
    // A pipeline per namespace: each one's keys are in its slot.
    const pipelines = [...this.#subs].map(([ns, subs]) => {
      const pipeline = this.#redis.client.pipeline()
      pipeline.zremrangebyscore(this.keys.subs(ns), '-inf', now)
      for (const sub of subs) pipeline.zadd(this.keys.subs(ns), now + 3 * this.options.heartbeatMs, this.#member(sub))
      return pipeline.exec()
    })
    await Promise.all(pipelines).catch((error: unknown) =>
      this.#logger.warn({ err: error }, 'pulse bus: heartbeat failed'),
    )
  }

  /** Whether a live subscription (of this bus, or of any bus on the same Redis) matches `subject`. */
  async hasSubscriber(subject: string): Promise<boolean> {
    const ns = this.#namespace(subject, 'subject')
    if (ns === kInboxNamespace) return true
    for (const sub of this.#subs.get(ns) ?? []) if (!sub.closed && matchSubject(subject, sub.pattern)) return true
    const members = await this.#redis.client.zrangebyscore(this.keys.subs(ns), Date.now(), '+inf')
    return members.some((member) => matchSubject(subject, member.slice(0, member.lastIndexOf('\n'))))
  }

  // ---- request / reply ---------------------------------------------------------------------------

  /**
   * Publishes a request and resolves with the first reply's payload. Rejects with `NoResponderError`
   * when no subscription matches the subject (at once) or no reply comes within `timeoutMs`.
   */
  async request(subject: string, payload?: Payload, options: RequestOptions = {}): Promise<Buffer> {
    this.#lifecycle.assertOpen('request')
    checkKnownKeys(options, ['timeoutMs', 'signal', 'key', 'traceId'])
    checkSubject(subject)
    const ns = this.#namespace(subject, 'subject')
    if (ns === kInboxNamespace)
      throw new InvalidArgumentError('cannot send a request to an inbox subject', { data: { subject } })
    const timeoutMs =
      options.timeoutMs === undefined
        ? this.options.requestTimeoutMs
        : checkDurationMs(options.timeoutMs, 'options.timeoutMs', { min: 1 })
    if (!(await this.hasSubscriber(subject)))
      throw new NoResponderError(`no subscriber for subject ${subject}`, { data: { subject } })
    const inbox = newInbox()
    let resolveReply: (payload: Buffer) => void = () => {}
    const replied = new Promise<Buffer>((resolve) => (resolveReply = resolve))
    const stop = await this.#inboxes.subscribe(this.#channel(inbox), (message) => {
      try {
        const record = parseRecord(message.toString('utf8'))
        if (record.key?.startsWith('c_') === true && record.payload.length === 0) return // a confirmation, not a reply
        resolveReply(record.payload)
      } catch {
        // not a record: ignored
      }
    })
    const combined = anySignal([options.signal, this.#lifecycle.signal])
    const signal = combined.signal
    try {
      const put: PutOptions = { responseSubject: inbox }
      if (options.key !== undefined) put.key = options.key
      if (options.traceId !== undefined) put.traceId = options.traceId
      await this.#putOne(subject, payload, put)
      const outcome = await Promise.race([replied, sleep(timeoutMs, signal).then(() => undefined)])
      if (outcome === undefined)
        throw new NoResponderError(`no reply to ${subject} within ${timeoutMs} ms`, { data: { subject, timeoutMs } })
      return outcome
    } finally {
      combined.dispose()
      await stop()
    }
  }

  /**
   * Answers requests on `pattern`: `handler`'s result is published to each request's inbox (a thrown
   * error as `{"error": message}`, as the reference's `WithData(err)`). Events without an inbox are
   * skipped. Starts at the newest event.
   */
  reply(pattern: string, handler: ReplyHandler, options: ReplyOptions = {}): ReplyHandle {
    checkKnownKeys(options, ['concurrency'])
    const concurrency =
      options.concurrency === undefined ? 16 : checkInteger(options.concurrency, 'options.concurrency', { min: 1 })
    if (typeof handler !== 'function')
      throw new InvalidArgumentError('handler must be a function', { data: { option: 'handler' } })
    const sub = this.get(pattern)
    const running = new Set<Promise<void>>()
    const answer = async (event: BusEvent) => {
      let payload: Payload | undefined
      try {
        payload = await handler(event)
      } catch (error) {
        this.#logger.warn({ err: error, subject: event.subject }, 'pulse bus: reply handler failed')
        payload = { error: coerceError(error).message }
      }
      const inbox = event.responseSubject as string
      await this.#publishInbox({
        id: newEventId(),
        subject: inbox,
        createdAt: formatTime(new Date()),
        payload: toPayload(payload),
      }).catch((error: unknown) => this.#logger.warn({ err: error, inbox }, 'pulse bus: could not publish a reply'))
    }
    const loop = (async () => {
      for await (const event of sub) {
        if (event.responseSubject === undefined) continue
        const task = answer(event).finally(() => running.delete(task))
        running.add(task)
        if (running.size >= concurrency) await Promise.race(running)
      }
      await Promise.all(running)
    })().catch((error: unknown) => {
      if (!(error instanceof ClosedError)) this.#logger.error({ err: error, pattern }, 'pulse bus: responder stopped')
    })
    return {
      ready: sub.ready,
      close: async () => {
        await sub.return()
        await loop
      },
    }
  }

  // ---- tail loop and close -----------------------------------------------------------------------

  /** The tail loop of `namespaces`, on the blocking connection of `redis`. */
  async #run(namespaces: readonly string[], redis: PulseRedis): Promise<void> {
    const signal = this.#lifecycle.signal
    let failures = 0
    const keys = namespaces.map((ns) => this.keys.log(ns))
    while (!signal.aborted) {
      try {
        const ids = namespaces.map((ns) => this.#tail.get(ns) ?? '0-0')
        const reply = await redis
          .blocking()
          .callBuffer(
            'XREAD',
            'COUNT',
            this.options.batchSize,
            'BLOCK',
            this.options.blockMs,
            'STREAMS',
            ...keys,
            ...ids,
          )
        failures = 0
        if (!Array.isArray(reply)) continue
        for (const item of reply as [Buffer, unknown][]) {
          const ns = this.keys.namespaceOfLog(item[0].toString('utf8').slice(this.#channelPrefix.length))
          const prev = this.#tail.get(ns)
          const { entries, lastId } = decodeBusEntries(item[1])
          if (prev === undefined || lastId === undefined) continue
          this.#tail.set(ns, lastId)
          for (const sub of this.#subs.get(ns) ?? []) sub.offer(prev, entries, lastId)
        }
      } catch (error) {
        if (signal.aborted) break
        this.#logger.warn({ err: error }, 'pulse bus: tail read failed, retrying')
        await sleep(reconnectDelayMs(++failures, 50, 5_000), signal).catch(() => undefined)
      }
    }
  }

  close(): Promise<void> {
    return this.#lifecycle.close()
  }

  destroy(reason?: Error): Promise<void> {
    return this.#lifecycle.destroy(reason)
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  async #close(): Promise<void> {
    clearInterval(this.#heartbeat)
    const subs = [...this.#subs.values()].flatMap((set) => [...set])
    for (const sub of subs) sub.end()
    await Promise.all(subs.map((sub) => sub.flushed()))
    // One ZREM per subscription: the namespaces' keys are in different slots of a cluster.
    const client = this.#redis.client
    await Promise.all(subs.map((sub) => client.zrem(this.keys.subs(sub.namespace), this.#member(sub)))).catch(
      () => undefined,
    )
    for (const set of this.#subs.values()) set.clear()
    await Promise.all([...this.#inboxSubs].map((sub) => sub.return()))
    await this.#inboxes.close()
    await Promise.all(this.#tailConnections.map((own) => own.close()))
    await this.#redis.close()
    await Promise.all(this.#loops)
  }

  async #destroy(): Promise<void> {
    clearInterval(this.#heartbeat)
    for (const set of this.#subs.values()) for (const sub of set) sub.end()
    await this.#inboxes.close()
    await Promise.all(this.#tailConnections.map((own) => own.destroy()))
    await this.#redis.destroy()
  }
}
