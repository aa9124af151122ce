/**
 * Latency histograms (hdr-histogram-js) recorded in nanoseconds: the load generator's and the
 * benchmarks' (bench/lib/histogram.ts re-exports them).
 */
import hdr from 'hdr-histogram-js'

/** A histogram of up to 60 s, 3 significant digits, in ns. */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000_000,
    numberOfSignificantValueDigits: 3,
  })
}

/** Records one duration given in milliseconds (performance.now() differences). */
export function recordMs(h: hdr.Histogram, ms: number): void {
  h.recordValue(Math.min(60_000_000_000, Math.max(1, Math.round(ms * 1e6))))
}

/** The load generator's percentiles, in ms. */
export interface LatencyMs {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

const round3 = (ns: number): number => Math.round(ns / 1e3) / 1e3

/**
 * p50 / p90 / p99 / p99.9 / max of `h`, in ms to the µs. A percentile reads as the top of its bucket,
 * so each is capped at the maximum recorded.
 */
export function latencyMs(h: hdr.Histogram): LatencyMs {
  const at = (p: number): number => round3(Math.min(h.getValueAtPercentile(p), h.maxValue))
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: round3(h.maxValue) }
}
