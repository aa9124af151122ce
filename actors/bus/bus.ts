/**
 * `Bus`: subjects with wildcards over Redis streams — one stream per namespace (the subject's first
 * token), so publishes within a namespace are totally ordered and namespaces never block each other.
 *
 * Where things run: in the caller's process. `Bus.connect` opens a command connection, a bare RESP
 * connection for one tail loop (XREAD BLOCK over every namespace's stream, replies decoded from their
 * bytes; see `subscription.ts` for how subscriptions share it), and, on first use, a pub/sub connection
 * for inboxes. Nothing runs on other
 * threads: the work per event is a decode and a pattern match, cheaper than a thread hop.
 *
 * This file holds the connections, the tail loops, the subscriptions and their announcements, replies
 * and close; the publishing side (puts, confirmations, requests) is `publisher.ts`.
 *
 * On a Redis Cluster (a `redis-cluster://` URL or an ioredis `Cluster`) the keys are the same — each
 * namespace's carry its `{<ns>}` hash tag (`transports/redis/bus/keys.ts`), so a namespace lives on one
 * master and its scripts run in its slot; there is no key layout to choose. What differs: one tail loop
 * per namespace, each on a connection of its own to the master serving its slot (an XREAD over several
 * slots is CROSSSLOT), and commands that touch several namespaces are sent one per namespace.
 *
 * - `put` runs in a Lua script with the other puts of its tick to the same namespace (`busAppend-4`, one
 *   call; `publisher.ts`): the dedup check against keys kept in Redis with a TTL, the XADDs (each put
 *   all or nothing on its own), the event-id index, the counter behind `X-BUS-EVENT-INDEX`, and the trim
 *   to the retention (`maxLen`, `maxAgeMs`; none by default: every event is kept).
 * - `confirm: n` gives the event an inbox (`response_subject`); each consumer's `ack()` records its id
 *   in Redis (`busConfirm-1`) and, the first time, publishes on the inbox; `put` resolves once n distinct
 *   consumers did, and rejects with `TimeoutError` at its deadline (after a last count in Redis).
 * - `request` subscribes to a fresh inbox, publishes the request with it as `response_subject` (the
 *   request is persisted, as in the reference) and resolves with the first reply; `NoResponderError`
 *   when none comes in time — at once when no live subscription anywhere matches the subject (each bus
 *   announces its subscriptions in Redis, refreshed every `heartbeatMs`).
 * - Inbox subjects (`_bus_.…`) are never persisted: a publish goes to whoever listens now (pub/sub).
 */
import { setMaxListeners } from 'node:events'

import type { Cluster } from 'ioredis'

import { ClosedError, coerceError, InvalidArgumentError } from '../../runtime/errors.js'
import { Destroyable, sleep } from '../../runtime/lifecycle.js'
import type { Logger } from '../../runtime/logger.js'
import { checkInteger, checkKnownKeys } from '../../runtime/options.js'
import {
  createRedis,
  PulseRedis,
  reconnectDelayMs,
  type RedisSourceOrConnection,
} from '../../transports/redis/connection.js'
import { compareEntryIds } from '../../transports/redis/bus/entry.js'
import { InboxConnection } from '../../transports/redis/bus/inbox.js'
import { BusKeys } from '../../transports/redis/bus/keys.js'
import { decodeBusRead } from '../../transports/redis/bus/read-reply.js'
import { isTopologyError, keySlot, refreshSlots, slotMaster } from '../../transports/redis/cluster-slots.js'
import { ReopeningConnection, type RespEndpoint } from '../../transports/redis/resp-connection.js'
import { pipelineReplies } from '../../transports/redis/pipeline-replies.js'
import { newEventId } from './ids.js'
import { busMetrics, type BusMetrics } from './metrics.js'
import type { BusOptions, GetOptions, ResolvedBusOptions } from './options.js'
import { resolveBusOptions, resolveGetOptions } from './options.js'
import { Publisher } from './publisher.js'
import type { Payload } from './record.js'
import { formatTime, toPayload } from './record.js'
import { checkPattern, hasWildcard, kInboxNamespace, matchSubject, namespaceOf } from './subject.js'
import type { BusEvent, SubscriptionHost } from './subscription.js'
import { BusSubscription } from './subscription.js'
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

export class Bus extends Destroyable {
  readonly namespaces: readonly string[]
  readonly options: ResolvedBusOptions
  readonly keys: BusKeys
  readonly #redis: PulseRedis
  readonly #inboxes: InboxConnection
  readonly #logger: Logger
  /** Namespace → the tail loop's cursor (the id its next XREAD reads after). */
  readonly #tail = new Map<string, string>()
  readonly #subs = new Map<string, Set<BusSubscription>>()
  readonly #inboxSubs = new Set<InboxSubscription>()
  readonly #host: SubscriptionHost
  readonly #channelPrefix: string
  #loops: Promise<void>[] = []
  /** The tail loops' connections: one, or on a cluster one per namespace (to the master of its slot). */
  readonly #tails: ReopeningConnection[] = []
  #heartbeat: NodeJS.Timeout | undefined
  readonly #metrics: BusMetrics | undefined
  readonly #publisher: Publisher

  private constructor(redis: PulseRedis, options: ResolvedBusOptions) {
    super({ name: 'Bus', closeTimeoutMs: options.closeTimeoutMs })
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
    // Every put waiting for confirmations and every request listens to it: many at once are no leak.
    setMaxListeners(0, this.signal)
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
      confirm: (entry, consumerId) => bus.#publisher.confirm(entry, consumerId),
      register: (sub) => bus.#register(sub),
      detach: (sub) => bus.#detach(sub),
    }
    this.#publisher = new Publisher({
      client: redis.client,
      keys: this.keys,
      options,
      metrics: this.#metrics,
      inboxes: this.#inboxes,
      signal: this.signal,
      channel: (inbox) => bus.#channel(inbox),
      namespace: (subject, option) => bus.#namespace(subject, option),
      hasSubscriber: (subject) => bus.hasSubscriber(subject),
    })
  }

  /**
   * Connects to Redis (a URL, an ioredis client, or a `PulseRedis`; a client passed in is not closed by
   * `close()`) and starts the tail loop.
   */
  static async connect(redis: RedisSourceOrConnection, options: BusOptions): Promise<Bus> {
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
      // wait for each other: a tail loop per namespace, each on a connection of its own.
      for (const ns of this.namespaces) this.#loops.push(this.#run([ns], this.#tailConnection(ns)))
    } else {
      this.#loops.push(this.#run(this.namespaces, this.#tailConnection(undefined)))
    }
    this.#heartbeat = setInterval(() => void this.#announce(), this.options.heartbeatMs)
  }

  /** A tail loop's connection: to the server, or on a cluster to the master serving `ns`'s slot now. */
  #tailConnection(ns: string | undefined): ReopeningConnection {
    const client = this.#redis.client
    const endpoint = async (): Promise<RespEndpoint> =>
      ns === undefined
        ? client.options
        : (await slotMaster(client as unknown as Cluster, keySlot(this.#logKey(ns)))).options
    const tail = new ReopeningConnection(endpoint, 'pulse:bus:tail')
    this.#tails.push(tail)
    return tail
  }

  /** The key of `ns`'s stream as Redis names it (with the client's key prefix). */
  #logKey(ns: string): string {
    return `${this.#channelPrefix}${this.keys.log(ns)}`
  }

  #newest(ns: string): string {
    const tail = this.#tail.get(ns) ?? '0-0'
    const put = this.#publisher.lastPut(ns)
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
      this.assertOpen('put')
      if (Array.isArray(first))
        return this.#publisher.putBatch(first as readonly BatchItem[], (second ?? {}) as Pick<PutOptions, 'signal'>)
      return this.#publisher.putOne(first as string, second, third ?? {})
    } catch (error) {
      return Promise.reject(coerceError(error))
    }
  }

  #channel(inbox: string): string {
    return `${this.#channelPrefix}${this.keys.inbox(inbox)}`
  }

  // ---- get ---------------------------------------------------------------------------------------

  /**
   * Subscribes to `pattern` (`*` one token, `>` the rest) in its namespace; returns the iterator at
   * once. Invalid patterns and unknown namespaces throw `InvalidArgumentError` here; an unknown start
   * id rejects the first `next()`.
   */
  get(pattern: string, options?: GetOptions): Subscription {
    this.assertOpen('get')
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
    if (this.state === 'open') {
      void this.#redis.client.zrem(this.keys.subs(sub.namespace), this.#member(sub)).catch(() => undefined)
    }
  }

  async #announce(): Promise<void> {
    if (this.state !== 'open') return
    const now = Date.now()
    // A pipeline per namespace: each one's keys are in its slot.
    const pipelines = [...this.#subs].map(([ns, subs]) => {
      const pipeline = this.#redis.client.pipeline()
      pipeline.zremrangebyscore(this.keys.subs(ns), '-inf', now)
      for (const sub of subs) pipeline.zadd(this.keys.subs(ns), now + 3 * this.options.heartbeatMs, this.#member(sub))
      return pipeline.exec().then((results) => pipelineReplies(results))
    })
    // Best effort: the next heartbeat tries again. A failure (an error reply included) is logged, unless
    // the bus began closing meanwhile and cut the heartbeat short.
    await Promise.all(pipelines).catch((error: unknown) => {
      if (this.state === 'open') this.#logger.warn({ err: error }, 'pulse bus: heartbeat failed')
    })
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
    this.assertOpen('request')
    return this.#publisher.request(subject, payload, options)
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
      await this.#publisher
        .publishInbox({
          id: newEventId(),
          subject: inbox,
          createdAt: formatTime(new Date()),
          payload: toPayload(payload),
        })
        .catch((error: unknown) => this.#logger.warn({ err: error, inbox }, 'pulse bus: could not publish a reply'))
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

  /**
   * The tail loop of `namespaces`, on a RESP connection of its own (`tail`): its XREAD replies are decoded
   * from their bytes (`read-reply.ts`). A lost connection is opened again at the next read; on a cluster a
   * topology error refreshes the slot map first, so the next read goes to the slot's master then.
   */
  async #run(namespaces: readonly string[], tail: ReopeningConnection): Promise<void> {
    const signal = this.signal
    let failures = 0
    const keys = namespaces.map((ns) => this.#logKey(ns))
    const { batchSize, blockMs } = this.options
    while (!signal.aborted) {
      try {
        const conn = await tail.get()
        if (signal.aborted) break
        const ids = namespaces.map((ns) => this.#tail.get(ns) ?? '0-0')
        const reply = await conn.call(
          ['XREAD', 'COUNT', batchSize, 'BLOCK', blockMs, 'STREAMS', ...keys, ...ids],
          decodeBusRead,
        )
        failures = 0
        for (const stream of reply ?? []) {
          const ns = this.keys.namespaceOfLog(stream.key.slice(this.#channelPrefix.length))
          const prev = this.#tail.get(ns)
          const lastId = stream.lastId
          if (prev === undefined || lastId === undefined) continue
          this.#tail.set(ns, lastId)
          for (const sub of this.#subs.get(ns) ?? []) sub.offer(prev, stream.entries, lastId)
        }
      } catch (error) {
        if (signal.aborted) break
        this.#logger.warn({ err: error }, 'pulse bus: tail read failed, retrying')
        if (this.#redis.cluster && isTopologyError(error)) {
          tail.close()
          await refreshSlots(this.#redis.client as unknown as Cluster).catch(() => undefined)
        }
        await sleep(reconnectDelayMs(++failures, 50, 5_000), signal).catch(() => undefined)
      }
    }
  }

  /**
   * Ends every subscription (and its announcement), flushes their acks, closes the inbox connection and
   * the connections this bus made, then waits for the tail loops.
   */
  protected async onClose(): Promise<void> {
    this.#publisher.flush()
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
    for (const tail of this.#tails) tail.close()
    await this.#redis.close()
    await Promise.all(this.#loops)
  }

  /** Ends every subscription and drops the connections at once. */
  protected override async onDestroy(): Promise<void> {
    this.#publisher.flush()
    clearInterval(this.#heartbeat)
    for (const set of this.#subs.values()) for (const sub of set) sub.end()
    await this.#inboxes.close()
    for (const tail of this.#tails) tail.close()
    await this.#redis.destroy()
  }
}
