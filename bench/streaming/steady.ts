/**
 * add → handler latency at a steady rate. The producer calls `stream.add` (not awaited) on a 1 ms tick
 * for the events due so far; each payload is its `performance.now()` at the call. The consumer on the
 * same thread records now − that time (hdr, ns) for events added after the warm-up. Sink: acks not
 * awaited. Reader: no acks.
 */
import { randomUUID } from 'node:crypto'

import { type Reader, type Sink, Stream } from '../../actors/streaming/index.js'
import { latencyHistogram, percentilesUs, recordMs } from '../lib/histogram.js'

export interface SteadyResult {
  readonly rate: number
  /** Achieved add rate over the recorded window. */
  readonly achieved: number
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly count: number
  /** Events added but not handled within 5 s of the end. */
  readonly missing: number
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export async function steadyRun(
  url: string,
  kind: 'sink' | 'reader',
  rate: number,
  warmupS: number,
  seconds: number,
): Promise<SteadyResult> {
  const stream = new Stream(url, `bench-steady-${kind}-${randomUUID().slice(0, 8)}`, { maxLen: 0 })
  await stream.add('warm', '0') // connects the stream's client before the clock starts
  const consumer: Sink | Reader = kind === 'sink' ? await stream.newSink('bench') : await stream.newReader()
  const histogram = latencyHistogram()
  let recordFrom = Number.POSITIVE_INFINITY
  let handled = 0
  let sent = 0
  let caughtUp: (() => void) | undefined
  const loop = (async () => {
    for await (const event of consumer) {
      const now = performance.now()
      if (kind === 'sink') void (consumer as Sink).ack(event as Parameters<Sink['ack']>[0]).catch(() => undefined)
      const at = Number(event.payload.toString())
      if (at >= recordFrom) recordMs(histogram, now - at)
      if (++handled === sent) caughtUp?.()
    }
  })()
  try {
    await sleep(200) // the sink's first credits / the reader's first XREAD
    const start = performance.now()
    const end = start + (warmupS + seconds) * 1000
    recordFrom = start + warmupS * 1000
    let recordedSent = 0
    for (let now = start; now < end; now = performance.now()) {
      const due = Math.floor(((now - start) / 1000) * rate)
      while (sent < due) {
        const t = performance.now()
        void stream.add('tick', String(t))
        sent++
        if (t >= recordFrom) recordedSent++
      }
      await sleep(1)
    }
    if (handled < sent) {
      await Promise.race([new Promise<void>((resolve) => (caughtUp = resolve)), sleep(5_000)])
    }
    const p = percentilesUs(histogram)
    return {
      rate,
      achieved: recordedSent / seconds,
      p50: p.p50 / 1000,
      p99: p.p99 / 1000,
      p999: p.p999 / 1000,
      max: p.max / 1000,
      count: p.count,
      missing: sent - handled,
    }
  } finally {
    await consumer.close()
    await loop
    await stream.destroy()
    await stream.close()
  }
}
