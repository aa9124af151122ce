/**
 * Bulk actions on the jobs a filter matches, as the CLI does them: `GET /jobs/confirm` counts the
 * matching jobs and asks; `POST /jobs/bulk` requeues (dead jobs) or cancels (pending, running,
 * retrying ones) in steps of at most 1,000, stopping after the confirmed count even if more jobs enter
 * the filter meanwhile, then goes back to the list with a notice. Each step is an audit row as the user.
 */
import type { JobFilter, JobQueue, JobStatus } from '../../actors/jobs/index.js'
import { html } from '../html.js'
import type { PageRequest, PageResult, PageRoute } from '../page.js'
import {
  actionButton,
  CANCELABLE,
  isTimeout,
  messages,
  pathWith,
  READ,
  readOnlyNote,
  TOO_LONG,
  withQueue,
} from './jobs-common.js'
import { describeFilter, filterParams, hiddenFilter, type JobsFilter, readFilter } from './jobs-filter.js'

type Action = 'requeue' | 'cancel'

const kActions: Record<Action, { allowed: readonly JobStatus[]; verb: string; past: string }> = {
  requeue: { allowed: ['dead'], verb: 'Requeue', past: 'requeued' },
  cancel: { allowed: CANCELABLE, verb: 'Cancel', past: 'canceled' },
}

const kStep = 1_000

interface BulkRequest {
  readonly action: Action
  readonly filter: JobsFilter
  /** The filter as the library takes it: a status the action applies to, no id. */
  readonly options: JobFilter
}

/** The action and filter of `params`, or the reason they make no bulk action. */
function readBulk(params: URLSearchParams): BulkRequest | string {
  const filter = readFilter(params)
  const name = params.get('action') ?? ''
  if (name !== 'requeue' && name !== 'cancel') return 'The action must be requeue or cancel'
  if (filter.options === undefined) return filter.error ?? 'Bad filter'
  const { allowed } = kActions[name]
  if (filter.status === undefined || !allowed.includes(filter.status))
    return `${kActions[name].verb} applies to ${allowed.join(', ')} jobs: choose one of these statuses`
  if (filter.text.id !== '') return 'A bulk action takes a filter, not an id: use the job page'
  const { status, name: jobName, argsContain, createdAfter, createdBefore } = filter.options
  return { action: name, filter, options: { status, name: jobName, argsContain, createdAfter, createdBefore } }
}

function jobsText(n: number): string {
  return `${n} job${n === 1 ? '' : 's'}`
}

function refused(req: PageRequest, message: string): PageResult {
  return {
    title: 'Bulk action',
    status: 400,
    body: html`<h1>Bulk action</h1>
      ${messages(req, message)}
      <p><a href="${req.prefix}/jobs">Back to the jobs</a></p>`,
  }
}

async function confirm(req: PageRequest): Promise<PageResult> {
  return withQueue(req, 'Bulk action', async (queue) => {
    const bulk = readBulk(req.ctx.query)
    if (typeof bulk === 'string') return refused(req, bulk)
    const { verb } = kActions[bulk.action]
    const title = `${verb} matching jobs`
    const back = html`<p><a href="${pathWith(req, '/jobs', filterParams(bulk.filter.text))}">Back to the list</a></p>`
    let total: number
    try {
      total = await queue.countJobs(bulk.options, READ)
    } catch (error) {
      if (!isTimeout(error)) throw error
      return {
        title,
        status: 504,
        body: html`<h1>${title}</h1>
          ${messages(req, TOO_LONG)}${back}`,
      }
    }
    const button =
      total === 0
        ? html`<p>No job matches: nothing to do.</p>`
        : actionButton(req, {
            path: '/jobs/bulk',
            label: `${verb} ${jobsText(total)}`,
            danger: bulk.action === 'cancel',
            fields: html`<input type="hidden" name="action" value="${bulk.action}" />
              <input type="hidden" name="total" value="${total}" />${hiddenFilter(bulk.filter.text)}`,
          })
    const body = html`<h1>${title}</h1>
      <p><strong>${jobsText(total)}</strong> match this filter now:</p>
      ${describeFilter(bulk.filter.text)} ${readOnlyNote(req)} ${button} ${back}`
    return { title, body }
  })
}

/** Runs `action` in steps until `total` jobs went or a step takes none; resolves to how many went. */
async function inSteps(queue: JobQueue, req: PageRequest, bulk: BulkRequest, total: number): Promise<number> {
  const options = { ...bulk.options, actor: req.actor }
  let done = 0
  while (done < total) {
    const limit = Math.min(kStep, total - done)
    const { count } =
      bulk.action === 'requeue'
        ? await queue.requeueJobs({ ...options, limit })
        : await queue.cancelJobs({ ...options, limit })
    if (count === 0) break
    done += count
  }
  return done
}

async function run(req: PageRequest): Promise<PageResult> {
  return withQueue(req, 'Bulk action', async (queue) => {
    const form = await req.form()
    const bulk = readBulk(form)
    if (typeof bulk === 'string') return refused(req, bulk)
    const total = Number(form.get('total') ?? '')
    if (!Number.isSafeInteger(total) || total < 0) return refused(req, 'The confirmed count is missing: confirm again')
    const done = await inSteps(queue, req, bulk, total)
    const notice = `${kActions[bulk.action].past} ${jobsText(done)}`
    return { location: pathWith(req, '/jobs', filterParams(bulk.filter.text), notice) }
  })
}

export const BULK_ROUTES: readonly PageRoute[] = [
  { method: 'GET', path: '/jobs/confirm', section: '/jobs', handler: confirm },
  { method: 'POST', path: '/jobs/bulk', section: '/jobs', handler: run },
]
