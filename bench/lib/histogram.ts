/** Latency histograms (hdr-histogram-js) recorded in nanoseconds, read as microsecond percentiles. */
import type hdr from 'hdr-histogram-js'

export { latencyHistogram, recordMs } from '../../cli/loadgen/histogram.js'

export interface Percentiles {
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly count: number
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
