/**
 * `Sink`: one instance of a sink (a consumer group). Its Redis work runs in a `sink-reader` actor on a
 * runtime thread (sink-reader.ts); this side holds the subscriptions and talks to the actor over the
 * runtime's shared-memory rings (sink-protocol.ts):
 *
 * - Events arrive in batches into a bounded buffer (`bufferSize`, shared by the subscriptions). The
 *   actor reads only as many as it was given credits for; credits come back as the buffer drains, with
 *   how many events were consumed. Nothing is dropped; a full buffer stops the reads.
 * - `ack(ev)` queues the id; the acks of one turn of the event loop go to the actor in one message,
 *   and it XACKs them in batches. The promise resolves once queued; `flush()` once Redis has them.
 * - While the caller's thread is responsive it says so (any message, or an `alive` every grace/8), so
 *   the actor knows whether events in hand should be kept (a handler blocking the thread) or may be
 *   redelivered (forgotten). See held-events.ts.
 *
 * The actor is supervised: if it crashes it restarts with the same consumer; this side grants its
 * credits again and resends the acks it had not confirmed.
 */
import { ulid } from 'ulid'

import type { ActorRef } from '../../runtime/actor-ref.js'
import { ClosedError, coerceError, InvalidArgumentError } from '../../runtime/errors.js'
import { Closeable } from '../../runtime/lifecycle.js'
import type { Logger } from '../../runtime/logger.js'
import { Runtime } from '../../runtime/runtime.js'
import { redisUrlOf } from '../../transports/redis/connection.js'
import { groupStart } from './cursor.js'
import type { SinkEvent } from './event.js'
import { Fanout, type Subscription } from './fanout.js'
import {
  type AddStreamOptions,
  resolveAddStreamOptions,
  resolveSinkOptions,
  type ResolvedSinkOptions,
  type SinkOptions,
} from './options.js'
import type { StreamTtl } from './sink-group.js'
import type { AckRun, SinkReaderArgs, SinkReaderMsg, SinkReaderOut, SinkStats, WireBatch } from './sink-protocol.js'
import type { StreamHandle as Stream } from './stream-handle.js'
import { SinkCounts, streamMetrics } from './metrics.js'
import { checkSameSlot } from './stream-slot.js'
import { keepTrace, startDelivery } from './tracing.js'

const kActorModule = new URL(
  import.meta.url.endsWith('.ts') ? './sink-reader.actor.ts' : './sink-reader.actor.js',
  import.meta.url,
)

interface PendingAck {
  readonly seq: number
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

export class Sink extends Closeable implements AsyncIterable<SinkEvent> {
  readonly name: string
  /** This instance's consumer name in the group (a ULID). */
  readonly consumer: string
  readonly #options: ResolvedSinkOptions
  readonly #logger: Logger
  readonly #fanout: Fanout<SinkEvent>
  readonly #streams = new Set<string>()
  /** The stream the sink was made from: the others must share its key layout (and, on a cluster, its slot). */
  #first: Stream | undefined
  #runtime: Runtime | undefined
  #ownsRuntime = false
  #ref: ActorRef<SinkReaderMsg, unknown, SinkReaderOut> | undefined
  #unlisten: (() => void) | undefined
  #granted = 0
  #received = 0
  #consumed = 0
  #reported = 0
  #ackSeq = 0
  #ackQueue: { streams: string[]; ids: string[] } = { streams: [], ids: [] }
  #ackFlush: NodeJS.Immediate | undefined
  #pendingAcks: PendingAck[] = []
  /**
   * Acks told to the actor and not confirmed yet: told again if the actor restarts. An event acked twice
   * is XACKed twice, which Redis ignores (and the actor counts what XACK removed).
   */
  #unconfirmed: Extract<SinkReaderMsg, { t: 'ack' }>[] = []
  #lastSent = 0
  #ping: NodeJS.Timeout | undefined
  /** With the stream's `metrics`: what this instance delivered, confirmed and holds (metrics.ts). */
  #counts: SinkCounts | undefined

  private constructor(name: string, options: ResolvedSinkOptions, logger: Logger) {
    super({ name: `Sink "${name}"`, closeTimeoutMs: Math.max(5_000, options.blockMs + 2_000) })
    this.name = name
    this.consumer = ulid()
    this.#options = options
    this.#logger = logger
    this.#fanout = new Fanout(options.bufferSize)
    this.#fanout.onSubscribe = () => this.#grant()
    this.#fanout.onSpace = () => this.#grant()
    this.#fanout.onTake = startDelivery
    options.signal?.addEventListener('abort', () => void this.close().catch(() => undefined), { once: true })
  }

  static async open(stream: Stream, name: string, options?: SinkOptions): Promise<Sink> {
    const resolved = resolveSinkOptions(options)
    resolved.signal?.throwIfAborted()
    const sink = new Sink(name, resolved, stream.options.logger)
    const { metrics } = stream.options
    if (metrics !== undefined) sink.#counts = new SinkCounts(streamMetrics(metrics), name)
    try {
      await sink.#start(stream)
    } catch (error) {
      await sink.#destroy()
      throw error
    }
    return sink
  }

  /** A new subscription: an async iterator of the events this instance receives. */
  subscribe(): Subscription<SinkEvent> {
    this.assertOpen('subscribe')
    return this.#fanout.subscribe()
  }

  [Symbol.asyncIterator](): Subscription<SinkEvent> {
    return this.subscribe()
  }

  /**
   * Acks one event. It resolves as soon as the ack is queued for the actor, which XACKs the acks of
   * a turn of the event loop in one batch (so `await sink.ack(ev)` in a loop costs no round trip);
   * `flush()` resolves once Redis has every ack made so far. An ack that never reaches Redis (the
   * process dies first) means the event is delivered again: at least once. Acking twice is harmless.
   * Rejects with `ClosedError` after close, `InvalidArgumentError` for an event of another sink.
   */
  ack(event: SinkEvent): Promise<void> {
    return this.ackMany([event])
  }

  /** Acks events in one message to the actor (see `ack`). */
  ackMany(events: readonly SinkEvent[]): Promise<void> {
    try {
      this.#queueAcks(events)
      return Promise.resolve()
    } catch (error) {
      return Promise.reject(coerceError(error))
    }
  }

  /** Resolves once every ack made so far is in Redis; rejects with `ClosedError` if the sink closes first. */
  flush(): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new ClosedError(`Sink "${this.name}" is closed`))
    if (this.#unconfirmed.length === 0 && this.#ackQueue.ids.length === 0) return Promise.resolve()
    const seq = this.#ackSeq
    return new Promise((resolve, reject) => this.#pendingAcks.push({ seq, resolve, reject }))
  }

  #queueAcks(events: readonly SinkEvent[]): void {
    this.assertOpen('ack')
    if (!Array.isArray(events))
      throw new InvalidArgumentError('events must be an array of sink events', { data: { option: 'events' } })
    const list: readonly SinkEvent[] = events
    for (const event of list) this.#checkOwn(event)
    if (this.#options.noAck) return
    if (list.length === 0) return
    const { streams, ids } = this.#ackQueue
    for (const event of list) {
      streams.push(event.streamName)
      ids.push(event.id)
    }
    this.#ackSeq++
    this.#ackFlush ??= setImmediate(() => this.#flushAcks())
  }

  /** Reads `stream` too; its group starts at `options.start` (default: the sink's) when this creates it. */
  async addStream(stream: Stream, options?: AddStreamOptions): Promise<void> {
    this.assertOpen('addStream')
    if (this.#streams.has(stream.name)) return
    this.#checkStream(stream)
    const start = groupStart(resolveAddStreamOptions(options, this.#options.start))
    await this.#actor().ask({ t: 'addStream', stream: stream.name, start, ttl: ttlOf(stream) })
    this.#streams.add(stream.name)
  }

  /** Stops reading `stream`; the last instance of the sink to leave it destroys the group there. */
  async removeStream(stream: Stream): Promise<void> {
    this.assertOpen('removeStream')
    if (!this.#streams.has(stream.name)) return
    await this.#actor().ask({ t: 'removeStream', stream: stream.name })
    this.#streams.delete(stream.name)
  }

  #checkStream(stream: Stream): void {
    const first = this.#first
    if (first === undefined) return
    if (stream.keyLayout !== first.keyLayout) {
      throw new InvalidArgumentError(
        `Sink "${this.name}" reads stream ${JSON.stringify(first.name)} of key layout '${first.keyLayout}' and cannot read stream ${JSON.stringify(stream.name)} of key layout '${stream.keyLayout}': the streams of a sink share one layout`,
        { data: { option: 'stream' } },
      )
    }
    checkSameSlot(`Sink "${this.name}"`, first, stream)
  }

  get streams(): string[] {
    return [...this.#streams]
  }

  get closed(): boolean {
    return this.state !== 'open'
  }

  /** Counters of the actor (delivered, claimed, acked, filtered, malformed, oversized, stale consumers removed, extended). */
  async stats(): Promise<SinkStats> {
    this.assertOpen('stats')
    return (await this.#actor().ask({ t: 'stats' })) as SinkStats
  }

  async #start(stream: Stream): Promise<void> {
    const o = this.#options
    const { metrics } = stream.options
    const given = o.runtime ?? stream.options.runtime
    const runtime =
      given ?? (await Runtime.start({ closeTimeoutMs: 5_000, ...(metrics === undefined ? {} : { metrics }) }))
    this.#runtime = runtime
    this.#ownsRuntime = given === undefined
    this.#first = stream
    const args: SinkReaderArgs = {
      redisUrl: redisUrlOf(stream.source),
      sink: this.name,
      consumer: this.consumer,
      streams: [{ name: stream.name, start: groupStart(o.start), ttl: ttlOf(stream) }],
      ackGracePeriodMs: o.ackGracePeriodMs,
      keyLayout: stream.keyLayout,
      blockMs: o.blockMs,
      maxPolled: o.maxPolled,
      noAck: o.noAck,
      idleCheckMs: o.idleCheckMs,
      topic: o.topic,
      topicPattern: o.topicPattern,
    }
    const actorName = `sink:${stream.name}:${this.name}:${this.consumer}`
    this.#ref = (await runtime.spawn<SinkReaderMsg, unknown, SinkReaderArgs>(kActorModule, {
      name: actorName,
      args,
      ...(o.thread === undefined ? {} : { thread: o.thread }),
    })) as ActorRef<SinkReaderMsg, unknown, SinkReaderOut>
    this.#streams.add(stream.name)
    this.#unlisten = this.#ref.onMessage((msg) => this.#onMessage(msg))
    const onRestart = (event: { name: string }) => {
      if (event.name === actorName) this.#resync()
    }
    runtime.on('restart', onRestart)
    const unlisten = this.#unlisten
    this.#unlisten = () => {
      unlisten()
      runtime.off('restart', onRestart)
    }
    const period = Math.max(5, o.ackGracePeriodMs / 8)
    this.#ping = setInterval(() => {
      if (Date.now() - this.#lastSent >= period) this.#tell({ t: 'alive' })
    }, period)
    this.#ping.unref()
  }

  #actor(): ActorRef<SinkReaderMsg, unknown, SinkReaderOut> {
    if (this.#ref === undefined) throw new ClosedError(`Sink "${this.name}" is closed`)
    return this.#ref
  }

  #checkOwn(event: SinkEvent): void {
    if (
      typeof event !== 'object' ||
      event === null ||
      event.sinkName !== this.name ||
      typeof event.id !== 'string' ||
      !this.#streams.has(event.streamName)
    ) {
      throw new InvalidArgumentError(
        `event is not an event of sink "${this.name}" (sinkName ${JSON.stringify((event as Partial<SinkEvent> | null)?.sinkName)})`,
        {
          data: { option: 'event' },
        },
      )
    }
  }

  #onMessage(msg: SinkReaderOut): void {
    switch (msg.t) {
      case 'events':
        this.#received += msg.ends.length
        this.#deliver(this.#events(msg))
        break
      case 'acked':
        while (this.#unconfirmed[0] !== undefined && this.#unconfirmed[0].seq <= msg.seq) {
          const confirmed = this.#unconfirmed.shift() as Extract<SinkReaderMsg, { t: 'ack' }>
          this.#counts?.acked(confirmed.runs)
        }
        while (this.#pendingAcks[0] !== undefined && this.#pendingAcks[0].seq <= msg.seq)
          this.#pendingAcks.shift()?.resolve()
        break
      case 'log':
        this.#logger[msg.level](msg.data, msg.msg)
        break
    }
  }

  #deliver(events: SinkEvent[]): void {
    this.#counts?.delivered(events, this.#options.noAck)
    this.#fanout.push(events)
  }

  #events({
    stream: streamName,
    ids: joined,
    names,
    nameOf,
    topics,
    traces,
    data,
    ends,
    deliveries,
  }: WireBatch): SinkEvent[] {
    const ids = joined.split('\n')
    const events = new Array<SinkEvent>(ids.length)
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    let start = 0
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as string
      const end = ends[i] as number
      const event: SinkEvent = {
        id,
        streamName,
        eventName: names[nameOf?.[i] ?? 0] as string,
        topic: topics?.[i] ?? undefined,
        payload: bytes.subarray(start, end),
        createdAt: new Date(parseInt(id, 10)), // the ms part: parseInt stops at the '-'
        sinkName: this.name,
        deliveryCount: deliveries?.[i] ?? 1,
      }
      if (traces !== null) keepTrace(event, traces[i])
      events[i] = event
      start = end
    }
    return events
  }

  /** Grants the actor the buffer space not yet granted, once it is worth a message. */
  #grant(): void {
    if (this.state !== 'open' || this.#fanout.subscribers === 0) return
    this.#consumed = this.#received - this.#fanout.held
    const outstanding = this.#granted - this.#received
    const room = this.#fanout.space - outstanding
    const threshold = Math.max(1, Math.floor(this.#options.bufferSize / 4))
    if (room < threshold && !(room > 0 && this.#fanout.held === 0)) return
    this.#granted += room
    const consumed = this.#consumed - this.#reported
    this.#reported = this.#consumed
    this.#tell({ t: 'credit', n: room, consumed })
  }

  /** After an actor restart: it lost its credits and the acks it had not flushed. */
  #resync(): void {
    this.#granted = this.#received
    this.#grant()
    for (const msg of this.#unconfirmed) this.#tell(msg)
  }

  #flushAcks(): void {
    this.#ackFlush = undefined
    const { streams, ids } = this.#ackQueue
    if (ids.length === 0) return
    this.#ackQueue = { streams: [], ids: [] }
    const msg = { t: 'ack', seq: this.#ackSeq, runs: ackRuns(streams, ids) } as const
    this.#unconfirmed.push(msg)
    this.#tell(msg)
  }

  /** Tells the actor; a full mailbox (the actor is stuck) is retried shortly, in order. */
  #tell(msg: SinkReaderMsg): void {
    const ref = this.#ref
    if (ref === undefined || this.state === 'destroyed') return
    this.#lastSent = Date.now()
    let sent = false
    try {
      sent = ref.tell(msg)
    } catch {
      return // the runtime closed: close() settles what is pending
    }
    if (!sent) setTimeout(() => this.#tell(msg), 5).unref()
  }

  /** Flushes the acks, ends the subscriptions, asks the actor to close, then releases it. */
  protected async onClose(): Promise<void> {
    clearInterval(this.#ping)
    if (this.#ackFlush !== undefined) {
      clearImmediate(this.#ackFlush)
      this.#flushAcks()
    }
    this.#fanout.end()
    const ref = this.#ref
    try {
      if (ref !== undefined)
        await ref.ask({ t: 'close' }, { timeoutMs: Math.max(5_000, this.#options.blockMs + 1_000) })
    } finally {
      this.#rejectAcks()
      await this.#release()
    }
  }

  protected override onDestroy(): Promise<void> {
    return this.#destroy()
  }

  async #destroy(): Promise<void> {
    clearInterval(this.#ping)
    if (this.#ackFlush !== undefined) clearImmediate(this.#ackFlush)
    this.#fanout.end()
    this.#rejectAcks()
    await this.#release()
  }

  #rejectAcks(): void {
    for (const pending of this.#pendingAcks.splice(0))
      pending.reject(new ClosedError(`Sink "${this.name}" closed before the ack reached Redis`))
  }

  async #release(): Promise<void> {
    this.#counts?.close()
    this.#unlisten?.()
    this.#unlisten = undefined
    const ref = this.#ref
    this.#ref = undefined
    const runtime = this.#runtime
    this.#runtime = undefined
    if (runtime === undefined) return
    if (this.#ownsRuntime) await runtime.close()
    else if (ref !== undefined) await ref.stop().catch(() => undefined)
  }
}

function ttlOf(stream: Stream): StreamTtl {
  const { ttlMs, slidingTtlMs } = stream.options
  return ttlMs > 0 ? { ttlMs, mode: 'absolute' } : { ttlMs: slidingTtlMs, mode: 'sliding' }
}

/** Ids grouped by runs of the same stream, each run's ids joined by `\n` (sink-protocol.ts). */
function ackRuns(streams: readonly string[], ids: readonly string[]): AckRun[] {
  const runs: AckRun[] = []
  let start = 0
  for (let i = 1; i <= ids.length; i++) {
    if (i < ids.length && streams[i] === streams[start]) continue
    runs.push([streams[start] as string, ids.slice(start, i).join('\n')])
    start = i
  }
  return runs
}
