/** Latency histograms (hdr-histogram-js) recorded in nanoseconds, read as microsecond percentiles. */
import hdr from 'hdr-histogram-js'

export interface Percentiles {
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly count: number
}

export function latencyHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000_000,
    numberOfSignificantValueDigits: 3,
  })
}

/** Records one duration given in milliseconds (performance.now() differences). */
export function recordMs(h: hdr.Histogram, ms: number): void {
  h.recordValue(Math.max(1, Math.round(ms * 1e6)))
}

/** Percentiles in microseconds. */
export function percentilesUs(h: hdr.Histogram): Percentiles {
  return {
    p50: h.getValueAtPercentile(50) / 1000,
    p99: h.getValueAtPercentile(99) / 1000,
    p999: h.getValueAtPercentile(99.9) / 1000,
    max: h.maxValue / 1000,
    count: h.totalCount,
  }
}
