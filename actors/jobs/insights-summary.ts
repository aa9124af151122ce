/**
 * `insights()`: the queue's overview in one call — counts, oldest waiting job, dispatch switch,
 * throughput and latency of the last hour, workers, dead-letter trend — and the warnings drawn from
 * them. Each part is a bounded read of its own (insights.ts), a few at a time so that one overview
 * holds few of the pool's connections; a part that times out is listed in `unavailable` and the others
 * still answer.
 */
import { isPulseError } from '../../runtime/errors.js'
import { checkKnownKeys } from '../../runtime/options.js'
import { getDispatchState } from '../../transports/postgres/jobs/pause.js'
import type { StalledNames } from '../../transports/postgres/jobs/insights.js'
import {
  bounded,
  checkExactUpTo,
  checkInsightTimeout,
  deadLetters,
  estimatedStats,
  latency,
  oldestWaiting,
  stalledNames,
  throughput,
  workers,
} from './insights.js'
import type { JobQueueInternals } from './internal.js'
import type { DeadLetterTrend, DispatchStatus, InsightPart, InsightsOptions, JobInsights, JobWarning } from './types.js'

/** Reads run at once: an overview holds at most this many of the pool's connections. */
const kLanes = 3

type Parts = {
  counts: JobInsights['counts']
  oldestWaiting: JobInsights['oldestWaiting']
  dispatch: JobInsights['dispatch']
  throughput: JobInsights['throughput']
  latency: JobInsights['latency']
  workers: JobInsights['workers']
  deadLetters: JobInsights['deadLetters']
  stalled: StalledNames | undefined
}

/** Runs the tasks `lanes` at a time; a task that times out leaves its key undefined and is listed. */
async function runParts(
  tasks: { [K in keyof Parts]: () => Promise<Parts[K]> },
  lanes: number,
): Promise<{ parts: Partial<Parts>; unavailable: InsightPart[] }> {
  const parts: Partial<Parts> = {}
  const unavailable: InsightPart[] = []
  const queue = Object.keys(tasks) as InsightPart[]
  const lane = async () => {
    for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
      try {
        Object.assign(parts, { [key]: await tasks[key]() })
      } catch (error) {
        if (!isPulseError(error) || error.code !== 'PULSE_ERR_TIMEOUT') throw error
        unavailable.push(key)
      }
    }
  }
  await Promise.all(Array.from({ length: lanes }, lane))
  return { parts, unavailable: unavailable.sort() }
}

function dispatchWarning(dispatch: DispatchStatus | undefined): JobWarning[] {
  if (dispatch?.paused !== true) return []
  return [{ kind: 'dispatch-paused', reason: dispatch.reason, since: dispatch.pausedAt }]
}

function deadLetterWarning(trend: DeadLetterTrend | undefined): JobWarning[] {
  if (trend === undefined || trend.recent === 0 || trend.recent <= trend.previous) return []
  return [{ kind: 'dead-letter-growing', ...trend }]
}

function noWorkerWarnings(stalled: StalledNames | undefined, dispatch: DispatchStatus | undefined): JobWarning[] {
  // While dispatch is paused nothing starts: that warning says it all.
  if (stalled === undefined || dispatch?.paused !== false) return []
  return stalled.names.map((s) => ({ kind: 'no-worker', name: s.name, waiting: s.waiting, oldestAgeMs: s.oldestAgeMs }))
}

export async function insights(ctx: JobQueueInternals, options: InsightsOptions = {}): Promise<JobInsights> {
  checkKnownKeys(options, ['timeoutMs', 'exactUpTo'])
  const timeoutMs = checkInsightTimeout(options)
  const exactUpTo = checkExactUpTo(options)
  ctx.assertOpen('insights')
  const at = new Date()
  const { parts, unavailable } = await runParts(
    {
      // The slowest reads first, so that the lanes finish together.
      counts: () => estimatedStats(ctx, { timeoutMs, exactUpTo }),
      throughput: () => throughput(ctx, { timeoutMs }),
      latency: () => latency(ctx, { timeoutMs }),
      stalled: () => stalledNames(ctx, timeoutMs),
      oldestWaiting: () => oldestWaiting(ctx, timeoutMs),
      deadLetters: () => deadLetters(ctx, timeoutMs),
      workers: () => workers(ctx, { timeoutMs }),
      dispatch: () => bounded(ctx, 'dispatchStatus', timeoutMs, (db) => getDispatchState(db, ctx.q)),
    },
    kLanes,
  )
  return {
    at,
    counts: parts.counts,
    oldestWaiting: parts.oldestWaiting,
    dispatch: parts.dispatch,
    throughput: parts.throughput,
    latency: parts.latency,
    workers: parts.workers,
    deadLetters: parts.deadLetters,
    warnings: [
      ...dispatchWarning(parts.dispatch),
      ...deadLetterWarning(parts.deadLetters),
      ...noWorkerWarnings(parts.stalled, parts.dispatch),
    ],
    unavailable,
  }
}
