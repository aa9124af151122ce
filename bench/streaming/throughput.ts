/**
 * Throughput variants of the streaming suite. Each run uses a fresh stream (or queue) and does the same
 * two steps: ADD — N events (or jobs) written in chunks of 1,000 per pipeline (`XADD` × 1,000, pulse
 * `addMany`, BullMQ `addBulk`); DRAIN — a consumer started after the adds, until every event is acked
 * (job completed). Reported: drain events/s = N / drain time, and add + drain events/s = N / both.
 *
 *   raw          ioredis, no library: `XREADGROUP COUNT 100` then `XACK` of those ids, awaited, in a loop
 *   raw-pipe     the same, but the XACK is not awaited before the next XREADGROUP (same connection: one
 *                round trip per batch instead of two)
 *   sink         pulse `Sink`, `for await (const ev of sink) void sink.ack(ev)`; done when the last ack resolves
 *   sink-await   pulse `Sink`, `for await (const ev of sink) await sink.ack(ev)` (one ack in flight)
 *   bullmq       BullMQ `Worker`, no-op processor, concurrency 50, jobs `removeOnComplete/removeOnFail`
 */
import { randomUUID } from 'node:crypto'

import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'

import { type SinkOptions, Stream } from '../../actors/streaming/index.js'
import { bullmqConnection } from '../../cli/loadgen/peers/bullmq.js'

export interface ThroughputResult {
  readonly events: number
  /** N / drain seconds. */
  readonly drain: number
  /** N / (add + drain) seconds. */
  readonly total: number
  readonly addMs: number
  readonly drainMs: number
  /** `process.hrtime` (µs) at the drain's start and end, to cut a CPU profile to it (profile.ts). */
  readonly drainHrUs: readonly [number, number]
}

const kChunk = 1_000
export const kPayload = Buffer.alloc(32, 'x')

function result(events: number, t0: number, t1: number, t2: number): ThroughputResult {
  const hrNow = Number(process.hrtime.bigint() / 1000n)
  const nowMs = performance.now()
  const hr = (t: number): number => Math.round(hrNow - (nowMs - t) * 1000)
  return {
    events,
    drain: events / ((t2 - t1) / 1000),
    total: events / ((t2 - t0) / 1000),
    addMs: t1 - t0,
    drainMs: t2 - t1,
    drainHrUs: [hr(t1), hr(t2)],
  }
}

const uniq = (what: string): string => `bench-${what}-${randomUUID().slice(0, 8)}`

/** Entries exactly as pulse writes them (`n`, `p`), so every variant reads the same bytes. */
async function rawAdd(redis: Redis, key: string, events: number): Promise<void> {
  for (let i = 0; i < events; i += kChunk) {
    const pipeline = redis.pipeline()
    for (let j = i; j < Math.min(events, i + kChunk); j++) pipeline.xadd(key, '*', 'n', 'bench', 'p', kPayload)
    await pipeline.exec()
  }
}

export async function rawRun(url: string, events: number, pipelined: boolean): Promise<ThroughputResult> {
  const redis = new Redis(url)
  const key = `pulse:stream:${uniq('raw')}`
  try {
    await redis.xgroup('CREATE', key, 'g', '0', 'MKSTREAM')
    const t0 = performance.now()
    await rawAdd(redis, key, events)
    const t1 = performance.now()
    let read = 0
    let lastAck: Promise<unknown> = Promise.resolve()
    while (read < events) {
      const reply = (await redis.xreadgroup('GROUP', 'g', 'c', 'COUNT', 100, 'STREAMS', key, '>')) as
        [string, [string, string[]][]][] | null
      const rows = reply?.[0]?.[1] ?? []
      if (rows.length === 0) continue
      read += rows.length
      const ack = redis.xack(key, 'g', ...rows.map(([id]) => id))
      if (pipelined) lastAck = ack
      else await ack
    }
    await lastAck
    const t2 = performance.now()
    const pending = (await redis.xpending(key, 'g')) as [number, ...unknown[]]
    if (pending[0] !== 0) throw new Error(`raw: ${pending[0]} entries still pending`)
    return result(events, t0, t1, t2)
  } finally {
    await redis.del(key)
    redis.disconnect()
  }
}

export async function sinkRun(
  url: string,
  events: number,
  awaitAck: boolean,
  options: SinkOptions = {},
): Promise<ThroughputResult> {
  const stream = new Stream(url, uniq('sink'), { maxLen: 0 })
  const sink = await stream.newSink('bench', { ...options, start: 'oldest' })
  try {
    const t0 = performance.now()
    for (let i = 0; i < events; i += kChunk) {
      await stream.addMany(
        Array.from({ length: Math.min(kChunk, events - i) }, () => ({ name: 'bench', payload: kPayload })),
      )
    }
    const t1 = performance.now()
    let read = 0
    for await (const event of sink) {
      if (awaitAck) await sink.ack(event)
      else void sink.ack(event)
      if (++read === events) break
    }
    await sink.flush() // until Redis has every ack
    const t2 = performance.now()
    const pending = (await stream.redis.client.xpending(stream.key, 'bench')) as [number, ...unknown[]]
    if (pending[0] !== 0) throw new Error(`sink: ${pending[0]} entries still pending`)
    return result(events, t0, t1, t2)
  } finally {
    await sink.close()
    await stream.destroy()
    await stream.close()
  }
}

export async function bullmqRun(url: string, jobs: number, concurrency: number): Promise<ThroughputResult> {
  const connection = bullmqConnection(url)
  const name = uniq('bullmq')
  const queue = new Queue(name, { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } })
  let worker: Worker | undefined
  try {
    await queue.waitUntilReady()
    const t0 = performance.now()
    for (let i = 0; i < jobs; i += kChunk) {
      await queue.addBulk(
        Array.from({ length: Math.min(kChunk, jobs - i) }, (_, j) => ({ name: 'bench', data: { i: i + j } })),
      )
    }
    const t1 = performance.now()
    let completed = 0
    let done!: () => void
    const all = new Promise<void>((resolve) => (done = resolve))
    worker = new Worker(name, () => Promise.resolve(), { connection, concurrency, autorun: false })
    worker.on('completed', () => {
      if (++completed === jobs) done()
    })
    void worker.run()
    await all
    const t2 = performance.now()
    return result(jobs, t0, t1, t2)
  } finally {
    await worker?.close()
    await queue.obliterate({ force: true }).catch(() => undefined)
    await queue.close()
  }
}
