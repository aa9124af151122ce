/**
 * The work of one sink instance, run by its `sink-reader` actor on a runtime thread (so none of it runs
 * on the caller's event loop, and its keep-alives go on while a handler blocks that loop).
 *
 *   start: join the group on every stream (create it at the start id if missing), write the keep-alive,
 *          remove stale consumers ─▶ loops:
 *   read:   wait for credits ─▶ XREADGROUP COUNT min(credits, maxPolled) BLOCK ─▶ emit events ─▶ again
 *           (NOGROUP: the stream was destroyed, join again from '0'; other errors: jittered backoff)
 *   acks:   acks that arrive while an XACK runs wait and go in the next one (one XACK per stream, sent together)
 *   timers: keep-alive every grace/2; idle check every `idleCheckMs` (lease winner: claim idle entries,
 *           then remove stale consumers); keep held events every grace/4 (see held-events.ts)
 *   close:  stop reading and the timers, flush acks, hand the unacked events over (idle time set high, so
 *           any live instance's next idle check claims them), release the connections.
 *
 * Lifecycle (runtime/lifecycle.ts, `Destroyable`): the actor's `close` message is `close()`; the actor's
 * stop is `destroy()`, a no-op after a finished close, else the connections drop at once. The actor's
 * signal (`ctx.signal`) aborts when it stops or crashes: it destroys the reader too, so a crashed actor's
 * reader (its timers, read loop and connections) never outlives it beside the restarted one. From the
 * close on, intake (credits, acks, streams) is refused with `ClosedError`.
 *
 * Filtered-out and malformed entries are acked here (they are not this sink's work), counted and logged.
 *
 * The reads and the XACKs go on two bare RESP connections of their own (transports/redis/resp-connection.ts):
 * a read reply is decoded from its bytes into columns (read-reply.ts) and a batch's payloads are copied
 * once, into the buffer that crosses the ring. Everything else (group and map scripts, claims,
 * keep-alives) uses the ioredis client.
 *
 * On a Redis Cluster the streams of a sink share one hash slot (sink.ts refuses others), and both RESP
 * connections go to the master serving it, asked of the cluster's slot map on every open. A lost
 * connection, `MOVED`, `CLUSTERDOWN`, `TRYAGAIN`… (cluster-slots.ts `isTopologyError`) drop the
 * connection and refresh the slot map; the next try, after the jittered backoff, opens one to the
 * slot's master then — after a failover, the promoted replica.
 */
import type { Cluster, Redis } from 'ioredis'

import type { ActorContext } from '../../runtime/actor.js'
import { Destroyable, sleep } from '../../runtime/lifecycle.js'
import { kMaxTimerMs } from '../../runtime/options.js'
import { createRedis, type PulseRedis, reconnectDelayMs } from '../../transports/redis/connection.js'
import { classifyRedisError } from '../../transports/redis/errors.js'
import type { KeyLayout } from '../../transports/redis/key-layout.js'
import { decodeSimple, ReopeningConnection, type RespEndpoint } from '../../transports/redis/resp-connection.js'
import { xackCommand } from '../../transports/redis/streaming/ack-command.js'
import { isTopologyError, keySlot, nodeKey, refreshSlots, slotMaster } from '../../transports/redis/cluster-slots.js'
import { kAcquireLease } from '../../transports/redis/streaming/lease.js'
import { decodeReadReply, type ReadColumns } from '../../transports/redis/streaming/read-reply.js'
import { staleLeaseKey, streamKey, streamNameOf } from '../../transports/redis/streaming/keys.js'
import { columnsOf } from './cursor.js'
import { HeldEvents } from './held-events.js'
import { claimIdle, setHeldIdle } from './sink-claims.js'
import {
  createGroup,
  joinGroup,
  leaveGroup,
  removeStaleConsumers,
  type StreamTtl,
  writeKeepAlive,
} from './sink-group.js'
import {
  kMaxBatchBytes,
  type SinkReaderArgs,
  type SinkReaderOut,
  type SinkStats,
  type WireBatch,
  type AckRun,
} from './sink-protocol.js'
import { compileTopicFilter, type TopicFilter } from './topic-filter.js'

/** Room kept in a message to the caller for its fixed part, and counted per event beyond its strings. */
const kMessageReserveBytes = 4096
const kEventOverheadBytes = 16

/** An idle time that makes any idle check claim the entry: a day, far above any grace period. */
const kHandOverIdleMs = 86_400_000

/**
 * A batch being built from a read reply's columns: the indexes of its entries there, and where each
 * name is in `names`. The payloads are copied into one buffer when it is emitted.
 */
interface BatchBuilder {
  readonly stream: string
  readonly from: ReadColumns
  readonly index: number[]
  readonly names: string[]
  readonly nameIndex: Map<string, number>
  nameOf: number[] | null
  topics: (string | null)[] | null
  traces: (string | null)[] | null
  deliveries: number[] | null
  /** What the batch costs in its message (payloads, strings, overhead), and its payload bytes alone. */
  bytes: number
  payloadBytes: number
}

function newBatch(stream: string, from: ReadColumns): BatchBuilder {
  return {
    stream,
    from,
    index: [],
    names: [],
    nameIndex: new Map(),
    nameOf: null,
    topics: null,
    traces: null,
    deliveries: null,
    bytes: 0,
    payloadBytes: 0,
  }
}

function addName(batch: BatchBuilder, name: string, n: number): void {
  let index = batch.nameIndex.get(name)
  if (index === undefined) {
    index = batch.names.push(name) - 1
    batch.nameIndex.set(name, index)
  }
  if (batch.nameOf !== null) batch.nameOf.push(index)
  else if (index !== 0) (batch.nameOf = new Array<number>(n).fill(0)).push(index)
}

/** The payloads of a batch in one buffer, and where each ends in it. */
function payloadData(batch: BatchBuilder): { data: Buffer; ends: number[] } {
  const { src, starts, ends: srcEnds } = batch.from
  const data = Buffer.allocUnsafe(batch.payloadBytes)
  const ends = new Array<number>(batch.index.length)
  let at = 0
  for (let k = 0; k < batch.index.length; k++) {
    const i = batch.index[k] as number
    const start = starts[i] as number
    const end = srcEnds[i] as number
    // Small payloads: a loop beats a native call per copy.
    if (end - start <= 64) for (let j = start; j < end; j++) data[at++] = src[j] as number
    else at += src.copy(data, at, start, end)
    ends[k] = at
  }
  return { data, ends }
}

function noop(): void {}

export class SinkReader extends Destroyable {
  readonly #args: SinkReaderArgs
  readonly #ctx: ActorContext
  readonly #redis: PulseRedis
  readonly #client: Redis
  /** The client as a Cluster, on a Redis Cluster. */
  readonly #cluster: Cluster | undefined
  readonly #layout: KeyLayout
  /** On a cluster, the slot of the sink's streams (that of its first one). */
  readonly #slot: number
  readonly #filter: TopicFilter | undefined
  /** Stream name → its TTL (for the sinks map scripts). */
  readonly #streams = new Map<string, StreamTtl>()
  /** Stream key → the stream's name, as the user gave it (events carry it). */
  readonly #names = new Map<string, string>()
  readonly #held = new HeldEvents()
  readonly #timers: NodeJS.Timeout[] = []
  #credits = 0
  /** Credits the reads in flight may use (their COUNTs). */
  #reserved = 0
  #wakeRead: (() => void) | undefined
  /** The connections of the reads and the acks (replies decoded without ioredis: read-reply.ts). */
  readonly #reads: ReopeningConnection
  readonly #acks: ReopeningConnection
  #readLoop: Promise<void> | undefined
  #pendingAcks = new Map<string, string[]>()
  #pendingSeq = 0
  #ackLoop: Promise<void> | undefined
  #lastAlive = Date.now()
  #idleCheck: Promise<void> | undefined
  #keeping: Promise<void> | undefined
  readonly #stats = {
    delivered: 0,
    claimed: 0,
    acked: 0,
    filtered: 0,
    malformed: 0,
    oversized: 0,
    staleRemoved: 0,
    extended: 0,
  }

  constructor(args: SinkReaderArgs, ctx: ActorContext) {
    // The close is bounded by the caller's ask timeout, then by the actor's stop (a destroy).
    super({ name: `sink reader "${args.sink}"`, closeTimeoutMs: kMaxTimerMs })
    this.#args = args
    this.#ctx = ctx
    this.#redis = createRedis(args.redisUrl, { name: `pulse:sink:${args.sink}` })
    this.#client = this.#redis.client
    this.#cluster = this.#redis.cluster ? (this.#client as unknown as Cluster) : undefined
    this.#layout = args.keyLayout
    this.#slot = keySlot(streamKey(args.streams[0]?.name ?? '', args.keyLayout))
    this.#reads = new ReopeningConnection(() => this.#endpoint(), `pulse:sink:${args.sink}:reads`)
    this.#acks = new ReopeningConnection(() => this.#endpoint(), `pulse:sink:${args.sink}:acks`)
    const pattern =
      args.topicPattern === undefined ? undefined : new RegExp(args.topicPattern.source, args.topicPattern.flags)
    this.#filter = compileTopicFilter(args.topic, pattern)
    const onActorEnd = () => void this.destroy().catch(noop)
    if (ctx.signal.aborted) onActorEnd()
    else ctx.signal.addEventListener('abort', onActorEnd, { once: true })
  }

  async start(): Promise<void> {
    this.assertOpen('start')
    const { sink, consumer } = this.#args
    for (const stream of this.#args.streams) {
      await joinGroup(this.#client, sink, consumer, stream.name, stream.start, stream.ttl, this.#layout)
      this.#track(stream.name, stream.ttl)
    }
    await writeKeepAlive(this.#client, sink, consumer, this.#layout)
    await this.#removeStale()
    const grace = this.#args.ackGracePeriodMs
    this.#every(Math.max(5, grace / 2), () => writeKeepAlive(this.#client, sink, consumer, this.#layout))
    if (!this.#args.noAck) {
      this.#every(
        this.#args.idleCheckMs,
        () => (this.#idleCheck ??= this.#checkIdle().finally(() => (this.#idleCheck = undefined))),
      )
      this.#every(
        Math.max(5, grace / 4),
        () => (this.#keeping ??= this.#keepHeld().finally(() => (this.#keeping = undefined))),
      )
    }
    this.#readLoop = this.#read()
  }

  /** From the caller: room for `n` more events, after it consumed `consumed`. */
  credit(n: number, consumed: number): void {
    this.assertOpen('credit')
    this.#alive()
    this.#held.consumed(consumed)
    this.#credits += n
    this.#wake()
  }

  ack(seq: number, runs: readonly AckRun[]): void {
    this.assertOpen('ack')
    this.#alive()
    for (const [stream, joined] of runs) {
      const key = this.#key(stream)
      for (const id of joined.split('\n')) {
        this.#held.delete(key, id)
        this.#queueAck(key, id)
      }
    }
    this.#pendingSeq = Math.max(this.#pendingSeq, seq)
    this.#startAcks()
  }

  #alive(): void {
    this.#lastAlive = Date.now()
  }

  alive(): void {
    this.assertOpen('alive')
    this.#alive()
  }

  async addStream(name: string, start: string, ttl: StreamTtl): Promise<void> {
    this.assertOpen('addStream')
    if (this.#streams.has(name)) return
    await joinGroup(this.#client, this.#args.sink, this.#args.consumer, name, start, ttl, this.#layout)
    this.#track(name, ttl)
    await this.#interrupt()
  }

  async removeStream(name: string): Promise<void> {
    this.assertOpen('removeStream')
    const ttl = this.#streams.get(name)
    if (ttl === undefined) return
    this.#streams.delete(name)
    this.#names.delete(this.#key(name))
    await this.#interrupt()
    await leaveGroup(this.#client, this.#args.sink, this.#args.consumer, name, ttl, this.#layout)
  }

  #key(stream: string): string {
    return streamKey(stream, this.#layout)
  }

  #track(name: string, ttl: StreamTtl): void {
    this.#streams.set(name, ttl)
    this.#names.set(this.#key(name), name)
  }

  /** Where the RESP connections go: the server, or on a cluster the master serving the streams' slot now. */
  async #endpoint(): Promise<RespEndpoint> {
    const cluster = this.#cluster
    if (cluster === undefined) return this.#client.options
    return (await slotMaster(cluster, this.#slot)).options
  }

  /** After a topology error (cluster-slots.ts): drops `conn` and refreshes the slot map. */
  async #reroute(conn: ReopeningConnection, error: unknown): Promise<void> {
    const cluster = this.#cluster
    if (cluster === undefined || !isTopologyError(error)) return
    conn.close()
    await refreshSlots(cluster).catch(() => undefined)
  }

  stats(): SinkStats {
    return { ...this.#stats }
  }

  /** Stops reading, flushes acks, hands the unacked events over, then releases the connections. */
  protected async onClose(): Promise<void> {
    this.#stopTimers()
    try {
      await this.#interrupt()
      await this.#readLoop
      await this.#idleCheck?.catch(noop)
      await this.#keeping?.catch(noop)
      while (this.#ackLoop !== undefined) await this.#ackLoop
      await this.#handOver().catch((error: unknown) =>
        this.#log('warn', 'could not hand the unacked events over', error),
      )
    } finally {
      this.#reads.close()
      this.#acks.close()
      await this.#redis.close()
    }
  }

  /** Drops the connections at once (the actor stopped without a close, or while it ran). */
  protected override async onDestroy(reason: Error | undefined): Promise<void> {
    this.#stopTimers()
    this.#reads.close()
    this.#acks.close()
    await this.#redis.destroy(reason)
  }

  #stopTimers(): void {
    for (const timer of this.#timers.splice(0)) clearInterval(timer)
    this.#wake()
  }

  // --- reading -------------------------------------------------------------------------------------

  /**
   * Two reads in flight: while one reply is parsed and handed over, the next XREADGROUP is already on
   * the server. Only the first blocks; the read-ahead does not (it answers at once, maybe empty), so a
   * close or `addStream` never waits behind it. Each read reserves the credits its COUNT could use.
   */
  async #read(): Promise<void> {
    let failures = 0
    const inFlight: { readonly reply: Promise<ReadColumns[] | null>; readonly count: number }[] = []
    while (!this.signal.aborted) {
      try {
        while (inFlight.length < 2 && this.#credits - this.#reserved > 0 && this.#streams.size > 0) {
          const count = Math.min(this.#args.maxPolled, this.#credits - this.#reserved)
          this.#reserved += count
          const reply = this.#sendRead(count, inFlight.length === 0)
          reply.catch(() => undefined) // awaited below, in order
          inFlight.push({ reply, count })
        }
        const head = inFlight.shift()
        if (head === undefined) {
          await new Promise<void>((resolve) => (this.#wakeRead = resolve))
          continue
        }
        let reply: ReadColumns[] | null
        try {
          reply = await head.reply
        } finally {
          this.#reserved -= head.count
        }
        for (const batch of reply ?? []) this.#deliver(batch, undefined)
        failures = 0
      } catch (error) {
        if (this.signal.aborted) break
        if (classifyRedisError(error).reply === 'NOGROUP') {
          await this.#rejoin().catch((e: unknown) => this.#log('warn', 'could not join the group again', e))
          continue
        }
        this.#log('warn', 'read failed, retrying', error)
        await this.#reroute(this.#reads, error)
        // As the clients' reconnect policy (DEFAULT_REDIS_CLIENT_OPTIONS): back within 2 s of the server.
        await sleep(reconnectDelayMs(++failures, 50, 2_000), this.signal).catch(() => undefined)
      }
    }
    await Promise.allSettled(inFlight.map((read) => read.reply))
  }

  async #sendRead(count: number, block: boolean): Promise<ReadColumns[] | null> {
    const conn = await this.#reads.get()
    const { sink, consumer } = this.#args
    const keys = [...this.#streams.keys()].map((name) => this.#key(name))
    const wait = block ? ['BLOCK', this.#args.blockMs] : []
    const noAck = this.#args.noAck ? ['NOACK'] : []
    return conn.call(
      [
        'XREADGROUP',
        'GROUP',
        sink,
        consumer,
        'COUNT',
        count,
        ...wait,
        ...noAck,
        'STREAMS',
        ...keys,
        ...keys.map(() => '>'),
      ],
      decodeReadReply,
    )
  }

  /** The stream (and its group) vanished, e.g. `destroy()`: join again from its start. */
  async #rejoin(): Promise<void> {
    for (const [name, ttl] of this.#streams) {
      await createGroup(this.#client, this.#key(name), this.#args.sink, '0')
      await joinGroup(this.#client, this.#args.sink, this.#args.consumer, name, '0', ttl, this.#layout)
    }
  }

  #deliver(batch: ReadColumns, deliveries: ReadonlyMap<string, number> | undefined): void {
    const { key, ids, names, topics, traces, starts, ends } = batch
    const stream = this.#names.get(key) ?? streamNameOf(key)
    if (batch.malformed.length > 0) {
      this.#stats.malformed += batch.malformed.length
      this.#log('warn', 'skipped entries that are not Pulse events', undefined, {
        stream,
        ids: batch.malformed,
        code: 'PULSE_ERR_STREAM_MALFORMED_ENTRY',
      })
      for (const id of batch.malformed) this.#queueAck(key, id)
    }
    // What one message to the caller can hold, less room for its fixed part (stream name, names table).
    const limit = this.#ctx.maxMessageBytes - kMessageReserveBytes
    const budget = Math.min(kMaxBatchBytes, limit)
    let out = newBatch(stream, batch)
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as string
      const topic = topics?.[i]
      if (this.#filter !== undefined && !this.#filter(topic)) {
        this.#stats.filtered++
        this.#queueAck(key, id)
        continue
      }
      const name = names[i] as string
      const payloadBytes = (ends[i] as number) - (starts[i] as number)
      const trace = traces?.[i]
      const cost =
        payloadBytes + id.length + name.length + (topic?.length ?? 0) + (trace?.length ?? 0) + kEventOverheadBytes
      if (cost > limit) {
        this.#skipOversized(key, id, cost)
        continue
      }
      if (out.bytes + cost > budget && out.index.length > 0) {
        this.#emit(out)
        out = newBatch(stream, batch)
      }
      if (!this.#args.noAck) this.#held.add(key, id)
      const n = out.index.length
      out.index.push(i)
      addName(out, name, n)
      if (topic !== undefined) (out.topics ??= new Array<string | null>(n).fill(null)).push(topic)
      else out.topics?.push(null)
      if (trace !== undefined) (out.traces ??= new Array<string | null>(n).fill(null)).push(trace)
      else out.traces?.push(null)
      const count = deliveries?.get(id) ?? 1
      if (count !== 1) (out.deliveries ??= new Array<number>(n).fill(1)).push(count)
      else out.deliveries?.push(1)
      out.bytes += cost
      out.payloadBytes += payloadBytes
    }
    this.#emit(out)
    if (!this.#args.noAck && this.#pendingAcks.size > 0) this.#startAcks()
  }

  /** An event too large for one message to the caller: acked (it stays in the stream), counted and logged. */
  #skipOversized(key: string, id: string, bytes: number): void {
    this.#stats.oversized++
    const stream = this.#names.get(key) ?? streamNameOf(key)
    const maxBytes = this.#ctx.maxMessageBytes - kMessageReserveBytes
    this.#log(
      'error',
      `skipped an event too large for the runtime's mailbox (raise the runtime's mailboxBytes)`,
      undefined,
      { stream, id, bytes, maxBytes, code: 'PULSE_ERR_STREAM_EVENT_TOO_LARGE' },
    )
    this.#queueAck(key, id)
  }

  #emit(batch: BatchBuilder): void {
    const n = batch.index.length
    if (n === 0) return
    this.#credits -= n
    this.#stats.delivered += n
    const { stream, from, index, names, nameOf, topics, traces, deliveries } = batch
    const ids = n === from.ids.length ? from.ids.join('\n') : index.map((i) => from.ids[i]).join('\n')
    const { data, ends } = payloadData(batch)
    const wire: WireBatch = { stream, ids, names, nameOf, topics, traces, data, ends, deliveries }
    this.#ctx.emit({ t: 'events', ...wire } satisfies SinkReaderOut)
  }

  // --- acks ----------------------------------------------------------------------------------------

  #queueAck(key: string, id: string): void {
    if (this.#args.noAck) return
    const ids = this.#pendingAcks.get(key)
    if (ids === undefined) this.#pendingAcks.set(key, [id])
    else ids.push(id)
  }

  async #flushAcks(): Promise<void> {
    let failures = 0
    while (this.#pendingAcks.size > 0 || this.#pendingSeq > 0) {
      const batch = this.#pendingAcks
      const seq = this.#pendingSeq
      this.#pendingAcks = new Map()
      this.#pendingSeq = 0
      try {
        const conn = await this.#acks.get()
        const replies = [...batch].map(([key, ids]) => conn.send(xackCommand(key, this.#args.sink, ids), decodeSimple))
        for (const reply of await Promise.allSettled(replies)) {
          if (reply.status === 'fulfilled') this.#stats.acked += Number(reply.value)
          else if (classifyRedisError(reply.reason).reply !== 'NOGROUP') throw reply.reason
        }
        if (seq > 0) this.#ctx.emit({ t: 'acked', seq } satisfies SinkReaderOut)
        failures = 0
      } catch (error) {
        for (const [key, ids] of batch) for (const id of ids) this.#queueAck(key, id)
        this.#pendingSeq = Math.max(this.#pendingSeq, seq)
        if (this.#redis.state !== 'open') break
        this.#log('warn', 'ack failed, retrying', error)
        await this.#reroute(this.#acks, error)
        await sleep(reconnectDelayMs(++failures, 50, 5_000))
      }
    }
  }

  /** Starts the ack loop unless it runs; cleared when it settles (never before `#ackLoop` holds it). */
  #startAcks(): void {
    this.#ackLoop ??= this.#flushAcks().finally(() => {
      this.#ackLoop = undefined
      if ((this.#pendingAcks.size > 0 || this.#pendingSeq > 0) && this.#redis.state === 'open') this.#startAcks()
    })
  }

  // --- idle check, keep-alives ---------------------------------------------------------------------

  async #checkIdle(): Promise<void> {
    const { sink, consumer, ackGracePeriodMs, idleCheckMs } = this.#args
    const won = await kAcquireLease.run(
      this.#client,
      [staleLeaseKey(sink, this.#layout)],
      [Date.now(), Math.max(5, idleCheckMs - 5)],
    )
    if (won !== 1) return
    for (const name of this.#streams.keys()) {
      if (this.signal.aborted || this.#credits <= 0) break
      const batch = await claimIdle(this.#client, this.#key(name), sink, consumer, ackGracePeriodMs, this.#credits)
      const claimed = batch.entries.length
      if (claimed > 0) this.#stats.claimed += claimed
      this.#deliver(columnsOf(batch), batch.deliveries)
    }
    await this.#removeStale()
  }

  async #removeStale(): Promise<void> {
    for (const [name, ttl] of this.#streams) {
      this.#stats.staleRemoved += await removeStaleConsumers(
        this.#client,
        this.#args.sink,
        this.#args.consumer,
        name,
        this.#args.ackGracePeriodMs,
        ttl,
        this.#layout,
      )
    }
  }

  /** Resets the idle time of the buffered events, and of those in hand while the caller is busy. */
  async #keepHeld(): Promise<void> {
    const busy = Date.now() - this.#lastAlive > this.#args.ackGracePeriodMs / 4
    const keep = this.#held.toKeep(busy)
    for (const [key, ids] of keep) {
      const still = await setHeldIdle(this.#client, key, this.#args.sink, this.#args.consumer, ids)
      this.#held.retain(key, ids, still)
    }
    if (busy && keep.size > 0) this.#stats.extended++
  }

  async #handOver(): Promise<void> {
    for (const [key, ids] of this.#held.toKeep(true))
      await setHeldIdle(this.#client, key, this.#args.sink, this.#args.consumer, ids, kHandOverIdleMs)
    this.#held.clear()
  }

  // --- plumbing ------------------------------------------------------------------------------------

  #every(ms: number, task: () => Promise<unknown>): void {
    if (this.signal.aborted) return
    const timer = setInterval(() => {
      if (this.signal.aborted) return
      task().catch((error: unknown) => {
        if (!this.signal.aborted) this.#log('warn', 'background task failed', error)
      })
    }, ms)
    this.#timers.push(timer)
  }

  #wake(): void {
    const wake = this.#wakeRead
    this.#wakeRead = undefined
    wake?.()
  }

  /** Makes a blocked XREADGROUP return now (it reads the new set of streams, or sees the close). */
  async #interrupt(): Promise<void> {
    this.#wake()
    const conn = await this.#reads.current()
    if (conn === undefined) return
    // On a cluster, CLIENT UNBLOCK goes to the node the read connection is on (client ids are per node).
    const at = `${conn.endpoint.host ?? '127.0.0.1'}:${conn.endpoint.port ?? 6379}`
    const node = this.#cluster === undefined ? this.#client : this.#cluster.nodes('all').find((n) => nodeKey(n) === at)
    await node?.client('UNBLOCK', conn.id).catch(() => undefined)
  }

  #log(
    level: 'debug' | 'info' | 'warn' | 'error',
    msg: string,
    error?: unknown,
    data: Record<string, unknown> = {},
  ): void {
    const err = error instanceof Error ? { message: error.message, code: (error as { code?: unknown }).code } : error
    this.#ctx.emit({
      t: 'log',
      level,
      msg: `pulse sink "${this.#args.sink}": ${msg}`,
      data: err === undefined ? data : { ...data, err },
    } satisfies SinkReaderOut)
  }
}
