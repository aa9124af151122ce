/**
 * One job (`GET /jobs/:id`): its fields, args and progress (escaped JSON), its last error with the
 * stack, its attempts and full history, the lease owner while it runs, and the Cancel / Requeue
 * actions (`POST /jobs/:id/cancel|requeue`). A refused action (the job finished meanwhile) shows the
 * library's error on the page; an unknown id is a 404 page.
 */
import type { JobInfo, JobQueue } from '../../actors/jobs/index.js'
import { html, json, type SafeHtml } from '../html.js'
import type { PageRequest, PageResult, PageRoute } from '../page.js'
import { attemptsOf, attemptsTable, historyTable, leaseOwner } from './job-history.js'
import {
  actionButton,
  CANCELABLE,
  errorFields,
  isTimeout,
  messages,
  pathWith,
  READ,
  readOnlyNote,
  refusal,
  statusBadge,
  time,
  TOO_LONG,
  withQueue,
} from './jobs-common.js'

function facts(job: JobInfo, owner: string | undefined): SafeHtml {
  const rows: [string, SafeHtml | string | number][] = [
    ['status', statusBadge(job.status)],
    ['attempt', `${job.attempt} of ${job.maxAttempts}`],
    ['priority', job.priority],
    ['run at', time(job.runAt)],
    ['created', time(job.createdAt)],
    ['updated', time(job.updatedAt)],
  ]
  if (owner !== undefined) rows.push(['lease owner', owner])
  if (job.scheduleId !== undefined)
    rows.push(['schedule', `${job.scheduleId} (occurrence ${job.occurrence?.toISOString() ?? '?'})`])
  if (job.idempotencyKey !== undefined) rows.push(['idempotency key', job.idempotencyKey])
  return html`<dl>
    ${rows.map(
      ([label, value]) =>
        html`<dt>${label}</dt>
          <dd>${value}</dd>`,
    )}
  </dl>`
}

function actions(req: PageRequest, job: JobInfo): SafeHtml {
  const buttons: SafeHtml[] = []
  const base = `/jobs/${encodeURIComponent(job.id)}`
  if (CANCELABLE.includes(job.status))
    buttons.push(actionButton(req, { path: `${base}/cancel`, label: 'Cancel job', danger: true }))
  if (job.status === 'dead') buttons.push(actionButton(req, { path: `${base}/requeue`, label: 'Requeue job' }))
  if (buttons.length === 0) return html``
  return html`<div class="actions">${readOnlyNote(req)} ${buttons}</div>`
}

function lastError(job: JobInfo): SafeHtml {
  const error = errorFields(job.lastError)
  if (error === undefined) return html``
  return html`<h2>Last error</h2>
    <p class="error">${error.message}</p>
    ${error.stack === undefined ? '' : html`<pre>${error.stack}</pre>`}`
}

function detail(req: PageRequest, job: JobInfo, error: string | undefined): SafeHtml {
  const attempts = attemptsOf(job.history)
  const owner = job.status === 'running' ? leaseOwner(attempts) : undefined
  return html`<h1>Job ${job.id}: ${job.name}</h1>
    ${messages(req, error)} ${facts(job, owner)} ${actions(req, job)}
    <h2>Args</h2>
    <pre>${json(job.args)}</pre>
    ${
      job.progress === undefined
        ? ''
        : html`<h2>Progress</h2>
            <pre>${json(job.progress)}</pre>`
    }
    ${lastError(job)}
    <h2>Attempts</h2>
    ${attemptsTable(attempts)}
    <h2>History</h2>
    ${historyTable(job.history)}
    <p><a href="${req.prefix}/jobs">All jobs</a></p>`
}

/** The page of job `id`, with `error` (a refused action) on top. */
async function render(req: PageRequest, queue: JobQueue, error?: string, status = 200): Promise<PageResult> {
  const id = req.ctx.params.id ?? ''
  let job: JobInfo | undefined
  try {
    job = await queue.getJob(id, READ)
  } catch (e) {
    if (!isTimeout(e)) throw e
    return {
      title: `Job ${id}`,
      status: 504,
      body: html`<h1>Job ${id}</h1>
        ${messages(req, TOO_LONG)}`,
    }
  }
  if (job === undefined) {
    return {
      title: 'No such job',
      status: 404,
      body: html`<h1>No such job</h1>
        ${messages(req, error)}
        <p class="error" role="alert">No job has id ${JSON.stringify(id)}.</p>
        <p><a href="${req.prefix}/jobs">All jobs</a></p>`,
    }
  }
  return { title: `Job ${job.id}`, status, body: detail(req, job, error) }
}

function show(req: PageRequest): Promise<PageResult> {
  return withQueue(req, 'Job', (queue) => render(req, queue))
}

function act(action: 'cancel' | 'requeue'): (req: PageRequest) => Promise<PageResult> {
  return (req) =>
    withQueue(req, 'Job', async (queue) => {
      const id = req.ctx.params.id ?? ''
      try {
        if (action === 'cancel') await queue.cancel(id, { actor: req.actor })
        else await queue.requeue(id, { actor: req.actor })
      } catch (error) {
        const refused = refusal(error)
        if (refused === undefined) throw error
        return render(req, queue, refused.message, refused.status)
      }
      const notice = `${action === 'cancel' ? 'canceled' : 'requeued'} job ${id}`
      return { location: pathWith(req, `/jobs/${encodeURIComponent(id)}`, new URLSearchParams(), notice) }
    })
}

export const JOB_ROUTES: readonly PageRoute[] = [
  { method: 'GET', path: '/jobs/:id', section: '/jobs', handler: show },
  { method: 'POST', path: '/jobs/:id/cancel', section: '/jobs', handler: act('cancel') },
  { method: 'POST', path: '/jobs/:id/requeue', section: '/jobs', handler: act('requeue') },
]
