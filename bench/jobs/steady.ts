/**
 * The steady phase: the paced producer (cli/loadgen/pace.ts) sends one single enqueue per job, not
 * awaited in sequence. Jobs sent after the warm-up are recorded: latency = enqueue call → handler
 * start, in an HDR histogram (ns, 3 significant digits).
 */
import hdr from 'hdr-histogram-js'

import { pace } from '../../cli/loadgen/pace.js'
import type { SteadyOptions, SteadyResult, StampedArgs } from './adapter.js'

export class LatencyRecorder {
  readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000_000,
    numberOfSignificantValueDigits: 3,
  })
  /** Stamps at or after this are recorded. */
  recordFrom = Infinity
  started = 0
  expected = 0

  /** Call at handler start with the job's args. */
  onStart(args: unknown): void {
    const t = (args as StampedArgs | null)?.t
    if (typeof t !== 'number') return
    if (t < this.recordFrom) return
    this.started++
    this.histogram.recordValue(Math.max(1, Math.round((performance.now() - t) * 1e6)))
  }
}

/**
 * Produces at `rate` for warm-up + seconds with `send` (its promise is only caught), then waits up to
 * `drainMs` for every recorded job to start.
 */
export async function paced(
  options: SteadyOptions,
  recorder: LatencyRecorder,
  send: (args: StampedArgs) => Promise<unknown>,
  drainMs = 20_000,
): Promise<SteadyResult> {
  const { rate, warmupSeconds, seconds } = options
  const start = performance.now()
  const warmEnd = start + warmupSeconds * 1000
  recorder.recordFrom = warmEnd
  let errors = 0
  let firstError: unknown
  const enqueue = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000_000,
    numberOfSignificantValueDigits: 3,
  })
  await pace(rate, (warmupSeconds + seconds) * 1000, (t) => {
    if (t >= warmEnd) recorder.expected++
    send({ t })
      .then(() => {
        if (t >= warmEnd) enqueue.recordValue(Math.max(1, Math.round((performance.now() - t) * 1e6)))
      })
      .catch((error: unknown) => {
        errors++
        firstError ??= error
      })
  })
  const deadline = performance.now() + drainMs
  while (recorder.started < recorder.expected - errors && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 20))
  if (errors > 0) process.stderr.write(`  ${errors} enqueue errors, first: ${String(firstError)}\n`)
  const h = recorder.histogram
  const ms = (p: number): number => h.getValueAtPercentile(p) / 1e6
  return {
    p50: ms(50),
    p95: ms(95),
    p99: ms(99),
    max: h.maxValue / 1e6,
    count: h.totalCount,
    missing: recorder.expected - recorder.started,
    enqueueP50: enqueue.getValueAtPercentile(50) / 1e6,
    enqueueP99: enqueue.getValueAtPercentile(99) / 1e6,
  }
}
