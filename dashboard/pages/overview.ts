/**
 * Overview (`/`): the job queue at a glance from `JobQueue.insights()` — warnings, workers, the oldest
 * waiting job, latency, jobs per name × status, the last hour's throughput — refreshed over SSE by
 * `GET /live/overview`. Live viewers share one read per second per queue, so many open pages cost the
 * database one overview at a time; each of its statements is bounded (250 ms), and a part that does not
 * answer in time is shown as such.
 */
import type { JobInsights, JobQueue } from '../../actors/jobs/index.js'
import { noQueue } from '../format.js'
import { html } from '../html.js'
import { serveLive } from '../live.js'
import type { PageRequest, PageResult, PageRoute } from '../page.js'
import { overviewFragment } from './overview-view.js'

const kStatementTimeoutMs = 250
const kSharedForMs = 1_000

const recent = new WeakMap<JobQueue, { at: number; insights: Promise<JobInsights> }>()

/**
 * The queue's insights: a page load reads them (what it shows is current, an action's effect
 * included); the live streams share the latest read while it is under `kSharedForMs` old.
 */
function sharedInsights(queue: JobQueue, fresh = false): Promise<JobInsights> {
  const cached = recent.get(queue)
  if (!fresh && cached !== undefined && performance.now() - cached.at < kSharedForMs) return cached.insights
  const entry = { at: performance.now(), insights: queue.insights({ timeoutMs: kStatementTimeoutMs }) }
  recent.set(queue, entry)
  // A failed read is not shared: the next viewer tries again.
  void entry.insights.catch(() => {
    if (recent.get(queue) === entry) recent.delete(queue)
  })
  return entry.insights
}

async function overview(req: PageRequest): Promise<PageResult> {
  const { queue } = req.deps
  if (queue === undefined)
    return {
      title: 'Overview',
      body: html`<h1>Overview</h1>
        ${noQueue()}`,
    }
  const fragment = overviewFragment(await sharedInsights(queue, true), req.prefix)
  const body = html`<h1>Overview</h1>
    <div data-live="${req.prefix}/live/overview">${fragment}</div>`
  return { title: 'Overview', body }
}

async function liveOverview(req: PageRequest): Promise<void> {
  const { queue } = req.deps
  await serveLive(req, async () =>
    queue === undefined ? noQueue() : overviewFragment(await sharedInsights(queue), req.prefix),
  )
}

export const OVERVIEW_ROUTES: readonly PageRoute[] = [
  { method: 'GET', path: '/', section: '/', handler: overview },
  { method: 'GET', path: '/live/overview', section: '/', handler: liveOverview, live: true },
]
