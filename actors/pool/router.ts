/**
 * The router of a full node (PROTOCOL.md, "Routing"): it runs in the pool watchdog actor, on the
 * node's runtime thread, so routing goes on while the node's own event loop is busy in a handler.
 *
 * - It reads the pool stream as consumer `<nodeId>` of the group `events` (each event goes to one
 *   node), and takes over, every ackGracePeriodMs / 2, the events any consumer left unacknowledged
 *   for ackGracePeriodMs (XAUTOCLAIM): a dead router's, a worker that did not ack.
 * - `j` goes to `activeWorkers[routeKey(key, n)]`; `s` / `n` to the one active worker whose `P:jobs`
 *   list holds the key (none and a payload in Redis: an ownership gap, the event waits; none and no
 *   payload: dropped). The event is written to that worker's stream and remembered under
 *   `<worker>:<worker event id>`.
 * - It reads its node's stream for the workers' acks (`a`): for a `j` it sends the outcome (`d`) to
 *   the dispatching node, with the job's dispatch id; then it XACK + XDELs the pool event, so the
 *   pool stream holds unsettled events only (what admission counts). The node's main thread reads
 *   the same stream (plain XREAD: both see every entry) for the `d`s of its own dispatches.
 *
 * Its blocking reads (XREADGROUP, XREAD) go through `blocking()` of connections of their own: on a
 * Redis Cluster, Cluster connections that send each read to the master of the pool's slot.
 */
import type { Redis } from 'ioredis'

import { coerceError } from '../../runtime/errors.js'
import type { Logger } from '../../runtime/logger.js'
import { createRedis, type PulseRedis } from '../../transports/redis/connection.js'
import type { KeyLayout } from '../../transports/redis/key-layout.js'
import { pipelineReplies } from '../../transports/redis/pipeline-replies.js'
import {
  type AckRecord,
  decodeAck,
  decodeEnvelope,
  decodeJob,
  encodeAck,
  encodeEnvelope,
  type JobRecord,
  kPoolEvents,
  peekJobKey,
} from '../../transports/redis/pool/codec.js'
import {
  cleanupMapName,
  jobMapName,
  jobPayloadMapName,
  kPoolSinkName,
  mapKeys,
  nodeStreamName,
  pendingEventKey,
  poolStreamName,
  streamKey,
  workerKeepAliveMapName,
  workerMapName,
  workerStreamName,
} from '../../transports/redis/pool/keys.js'
import { msToUnixNanos } from '../../transports/redis/pool/values.js'
import { decodeEntry, entryTimeMs } from '../../transports/redis/streaming/entry.js'
import { ReplicatedMap } from '../rmap/replicated-map.js'
import { routeKey } from './jump-hash.js'
import { activeWorkers, ownersOf, type ActiveWorker } from './membership.js'
import { kPendingEventTtlMs } from './options.js'
import { addNodeEvent } from './streams.js'

/** Events read per XREAD / XREADGROUP / XAUTOCLAIM. */
export const kReadCount = 200
/** A worker stream's approximate MAXLEN (the reference's stream default is 1,000; a busy worker gets more room). */
export const kWorkerStreamMaxLen = 10_000
/** How long an ack that came before its handoff was recorded is kept. */
const kEarlyAckMs = 10_000

export interface RouterArgs {
  readonly url: string
  readonly pool: string
  readonly keyLayout: KeyLayout
  readonly nodeId: string
  readonly ackGracePeriodMs: number
  readonly jobSinkBlockMs: number
  readonly staleAfterMs: number
}

interface Handoff {
  readonly poolEventId: string
  readonly name: string
  readonly job: JobRecord | undefined
  readonly at: number
}

/** A stream reply read with callBuffer: `[[key, [[id, fields], …]], …]`. */
export function streamEntries(reply: unknown): { stream: string; id: string; fields: unknown }[] {
  const out: { stream: string; id: string; fields: unknown }[] = []
  if (!Array.isArray(reply)) return out
  for (const item of reply) {
    if (!Array.isArray(item)) continue
    const [stream, entries] = item as [unknown, unknown]
    if (!Array.isArray(entries)) continue
    for (const entry of entries) {
      if (!Array.isArray(entry)) continue
      const [id, fields] = entry as [unknown, unknown]
      out.push({ stream: String(stream), id: String(id), fields })
    }
  }
  return out
}

export class Router {
  readonly #args: RouterArgs
  readonly #logger: Logger
  readonly #redis: PulseRedis
  readonly #group: PulseRedis
  readonly #reader: PulseRedis
  readonly #maps: ReplicatedMap[] = []
  #workers: ReplicatedMap | undefined
  #keepAlives: ReplicatedMap | undefined
  #cleanup: ReplicatedMap | undefined
  #jobs: ReplicatedMap | undefined
  readonly #handoffs = new Map<string, Handoff>()
  readonly #earlyAcks = new Map<string, { ack: AckRecord; at: number }>()
  readonly #abort = new AbortController()
  readonly #loops: Promise<void>[] = []

  constructor(args: RouterArgs, logger: Logger) {
    this.#args = args
    this.#logger = logger
    this.#redis = createRedis(args.url, { name: 'pulse-pool-router' })
    this.#group = createRedis(this.#redis.client, { name: 'pulse-pool-router-group' })
    this.#reader = createRedis(this.#redis.client, { name: 'pulse-pool-router-acks' })
  }

  async start(): Promise<void> {
    const { pool, keyLayout } = this.#args
    const join = async (name: string) => {
      const map = await ReplicatedMap.join(this.#redis, name, { logger: this.#logger, keyLayout })
      this.#maps.push(map)
      return map
    }
    ;[this.#workers, this.#keepAlives, this.#cleanup, this.#jobs] = await Promise.all([
      join(workerMapName(pool, keyLayout)),
      join(workerKeepAliveMapName(pool, keyLayout)),
      join(cleanupMapName(pool, keyLayout)),
      join(jobMapName(pool, keyLayout)),
    ])
    await this.#createGroup()
    this.#loops.push(this.#routeLoop(), this.#ackLoop())
  }

  async stop(): Promise<void> {
    this.#abort.abort()
    await this.#group.close().catch(() => undefined)
    await this.#reader.close().catch(() => undefined)
    await Promise.all(this.#loops)
    for (const map of this.#maps) await map.close().catch(() => undefined)
    await this.#redis.close().catch(() => undefined)
  }

  #log(
    level: 'debug' | 'info' | 'warn' | 'error',
    message: string,
    error?: unknown,
    data?: Record<string, unknown>,
  ): void {
    if (this.#abort.signal.aborted && level !== 'error') return
    this.#logger[level]({ ...(data ?? {}), ...(error === undefined ? {} : { err: coerceError(error) }) }, message)
  }

  async #createGroup(): Promise<void> {
    try {
      await this.#redis.client.xgroup('CREATE', this.#poolStream(), kPoolSinkName, '0', 'MKSTREAM')
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error
    }
  }

  /** The Redis key of the pool stream. */
  #poolStream(): string {
    return streamKey(poolStreamName(this.#args.pool, this.#args.keyLayout))
  }

  /** Resolves once this router sees worker `id` active (its replicas caught up), or after `timeoutMs`. */
  async waitActive(id: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (!this.#active().some((w) => w.id === id)) {
      if (Date.now() >= deadline || this.#abort.signal.aborted) return false
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    return true
  }

  #active(): ActiveWorker[] {
    if (this.#workers === undefined || this.#keepAlives === undefined || this.#cleanup === undefined) return []
    return activeWorkers(
      this.#workers.toObject(),
      this.#keepAlives.toObject(),
      this.#cleanup.toObject(),
      msToUnixNanos(Date.now()),
      this.#args.staleAfterMs,
    )
  }

  async #routeLoop(): Promise<void> {
    const key = this.#poolStream()
    const claimEveryMs = Math.max(10, Math.floor(this.#args.ackGracePeriodMs / 2))
    const blockMs = Math.max(1, Math.min(this.#args.jobSinkBlockMs, claimEveryMs))
    let nextClaim = Date.now() + claimEveryMs
    const signal = this.#abort.signal
    while (!signal.aborted) {
      try {
        const client = this.#group.blocking()
        if (Date.now() >= nextClaim) {
          nextClaim = Date.now() + claimEveryMs
          await this.#autoclaim(client, key)
          this.#forgetOld()
        }
        const reply = await client.callBuffer(
          'XREADGROUP',
          'GROUP',
          kPoolSinkName,
          this.#args.nodeId,
          'COUNT',
          kReadCount,
          'BLOCK',
          blockMs,
          'STREAMS',
          key,
          '>',
        )
        const entries = streamEntries(reply)
        await Promise.all(entries.map((entry) => this.#route(entry.id, entry.fields)))
      } catch (error) {
        if (signal.aborted) break
        if (String((error as Error).message).includes('NOGROUP')) {
          await this.#createGroup().catch(() => undefined)
          continue
        }
        this.#log('warn', 'pool: reading the pool stream failed', error)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }

  /** Takes over the pool events left unacknowledged past the grace period (by anyone) and routes them again. */
  async #autoclaim(client: Redis, key: string): Promise<void> {
    let start = '0-0'
    for (let round = 0; round < 10; round++) {
      const reply = (await client.callBuffer(
        'XAUTOCLAIM',
        key,
        kPoolSinkName,
        this.#args.nodeId,
        this.#args.ackGracePeriodMs,
        start,
        'COUNT',
        kReadCount,
      )) as unknown[]
      const [next, entries] = reply as [unknown, unknown]
      const list = streamEntries([[key, entries]])
      await Promise.all(list.map((entry) => this.#route(entry.id, entry.fields)))
      start = String(next)
      if (start === '0-0') break
    }
  }

  #forgetOld(): void {
    const now = Date.now()
    for (const [key, handoff] of this.#handoffs) if (now - handoff.at > kPendingEventTtlMs) this.#handoffs.delete(key)
    for (const [key, early] of this.#earlyAcks) if (now - early.at > kEarlyAckMs) this.#earlyAcks.delete(key)
  }

  async #settle(poolEventId: string): Promise<void> {
    const key = this.#poolStream()
    pipelineReplies(
      await this.#redis.client.multi().xack(key, kPoolSinkName, poolEventId).xdel(key, poolEventId).exec(),
    )
  }

  async #route(id: string, fields: unknown): Promise<void> {
    try {
      const entry = decodeEntry(id, fields)
      if (entry === undefined || Date.now() - entryTimeMs(id) > kPendingEventTtlMs) {
        await this.#settle(id)
        return
      }
      let key: string
      try {
        key = peekJobKey(entry.payload)
      } catch (error) {
        this.#log('error', 'pool: dropped a malformed pool event', error, { id })
        await this.#settle(id)
        return
      }
      const active = this.#active()
      if (entry.name === kPoolEvents.startJob) {
        if (active.length === 0) return // redelivered after the grace period
        const job = decodeJob(entry.payload)
        const target = active[routeKey(key, active.length)]
        if (target !== undefined) await this.#handoff(target.id, entry.name, entry.payload, id, job)
        return
      }
      if (entry.name !== kPoolEvents.stopJob && entry.name !== kPoolEvents.notify) {
        await this.#settle(id)
        return
      }
      const owners = ownersOf(this.#jobs?.toObject() ?? {}, key, new Set(active.map((w) => w.id)))
      if (owners.length === 1 && owners[0] !== undefined) {
        await this.#handoff(owners[0], entry.name, entry.payload, id, undefined)
        return
      }
      if (owners.length > 1) {
        this.#log('warn', 'pool: a job has two owners; the event waits', undefined, { key, owners })
        return
      }
      // No owner: an ownership gap (the payload exists) waits; else the job is gone.
      const { pool, keyLayout } = this.#args
      const payloads = mapKeys(jobPayloadMapName(pool, keyLayout), keyLayout).content
      const exists = await this.#redis.client.hexists(payloads, key)
      if (exists === 0) await this.#settle(id)
    } catch (error) {
      this.#log('warn', 'pool: routing an event failed', error, { id })
    }
  }

  async #handoff(
    workerId: string,
    name: string,
    payload: Buffer,
    poolEventId: string,
    job: JobRecord | undefined,
  ): Promise<void> {
    const envelope = encodeEnvelope({ sender: this.#args.nodeId, payload })
    const eventId = await this.#redis.client.xadd(
      streamKey(workerStreamName(this.#args.pool, workerId, this.#args.keyLayout)),
      'NOMKSTREAM',
      'MAXLEN',
      '~',
      kWorkerStreamMaxLen,
      '*',
      'n',
      name,
      'p',
      envelope,
    )
    if (eventId === null) return // the worker's stream is gone: redelivered after the grace period
    const key = pendingEventKey(workerId, eventId)
    this.#handoffs.set(key, { poolEventId, name, job, at: Date.now() })
    const early = this.#earlyAcks.get(key)
    if (early !== undefined) {
      this.#earlyAcks.delete(key)
      await this.#onWorkerAck(workerId, early.ack)
    }
  }

  /** Reads the node's stream for the workers' acks (`a`). */
  async #ackLoop(): Promise<void> {
    const stream = streamKey(nodeStreamName(this.#args.pool, this.#args.nodeId, this.#args.keyLayout))
    const blockMs = Math.max(1, this.#args.jobSinkBlockMs)
    const signal = this.#abort.signal
    let lastId = '0'
    while (!signal.aborted) {
      try {
        const reply = await this.#reader
          .blocking()
          .callBuffer('XREAD', 'COUNT', kReadCount, 'BLOCK', blockMs, 'STREAMS', stream, lastId)
        for (const { id, fields } of streamEntries(reply)) {
          lastId = id
          const entry = decodeEntry(id, fields)
          if (entry?.name !== kPoolEvents.ack) continue
          try {
            const envelope = decodeEnvelope(entry.payload)
            const ack = decodeAck(envelope.payload)
            void this.#onWorkerAck(envelope.sender, ack).catch((error: unknown) =>
              this.#log('warn', 'pool: settling a worker ack failed', error),
            )
          } catch (error) {
            this.#log('error', 'pool: dropped a malformed ack', error, { id })
          }
        }
      } catch (error) {
        if (signal.aborted) break
        this.#log('warn', 'pool: reading the node stream failed', error)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }

  async #onWorkerAck(workerId: string, ack: AckRecord): Promise<void> {
    const key = pendingEventKey(workerId, ack.eventId)
    const handoff = this.#handoffs.get(key)
    if (handoff === undefined) {
      this.#earlyAcks.set(key, { ack, at: Date.now() })
      return
    }
    this.#handoffs.delete(key)
    const job = handoff.job
    if (handoff.name === kPoolEvents.startJob && job !== undefined) {
      const back = encodeAck({
        eventId: handoff.poolEventId,
        error: ack.error,
        jobKey: job.key,
        dispatchId: job.dispatchId ?? ack.dispatchId,
        errorRecord: ack.errorRecord,
      })
      await addNodeEvent(
        this.#redis,
        this.#args.pool,
        this.#args.keyLayout,
        job.nodeId,
        kPoolEvents.dispatchReturn,
        encodeEnvelope({ sender: this.#args.nodeId, payload: back }),
      )
    }
    await this.#settle(handoff.poolEventId)
  }
}
