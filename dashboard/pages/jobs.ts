/**
 * The jobs browser (`GET /jobs`): the filter form, a page of matching jobs newest first (keyset: the
 * "Older" link carries the last id as the cursor, and the filter), and the links to the bulk actions
 * of the filter (jobs-bulk.ts). A bad filter is a 400 page naming the field; a search the database
 * gives up on (READ) says to narrow it.
 */
import type { JobList, JobSummary } from '../../actors/jobs/index.js'
import { html, type SafeHtml } from '../html.js'
import type { PageRequest, PageResult, PageRoute } from '../page.js'
import { BULK_ROUTES } from './jobs-bulk.js'
import {
  CANCELABLE,
  errorFields,
  isTimeout,
  messages,
  pathWith,
  READ,
  refusal,
  short,
  statusBadge,
  time,
  TOO_LONG,
  withQueue,
} from './jobs-common.js'
import { filterForm, filterParams, type JobsFilter, readFilter } from './jobs-filter.js'

const kPageSize = 50

function row(req: PageRequest, job: JobSummary): SafeHtml {
  const error = errorFields(job.lastError)
  return html`<tr>
    <th scope="row"><a href="${req.prefix}/jobs/${job.id}">${job.id}</a></th>
    <td>${job.name}</td>
    <td>${statusBadge(job.status)}</td>
    <td class="num">${job.attempt}/${job.maxAttempts}</td>
    <td class="num">${job.priority}</td>
    <td>${time(job.runAt)}</td>
    <td>${time(job.createdAt)}</td>
    <td>
      ${error === undefined ? '' : html`<span title="${short(error.message, 500)}">${short(error.message)}</span>`}
    </td>
  </tr>`
}

function table(req: PageRequest, list: JobList): SafeHtml {
  if (list.jobs.length === 0) return html`<p class="muted">No job matches.</p>`
  return html`<table>
    <caption class="sr-only">
      Jobs, newest first
    </caption>
    <thead>
      <tr>
        <th scope="col">id</th>
        <th scope="col">name</th>
        <th scope="col">status</th>
        <th scope="col" class="num">attempt</th>
        <th scope="col" class="num">priority</th>
        <th scope="col">run at</th>
        <th scope="col">created at</th>
        <th scope="col">last error</th>
      </tr>
    </thead>
    <tbody>
      ${list.jobs.map((job) => row(req, job))}
    </tbody>
  </table>`
}

function pager(req: PageRequest, filter: JobsFilter, list: JobList, first: boolean): SafeHtml {
  const params = filterParams(filter.text)
  const newest = first ? '' : html`<a href="${pathWith(req, '/jobs', params)}">← Newest</a>`
  if (list.cursor === undefined) return html`<nav class="pager" aria-label="Pages">${newest}</nav>`
  const older = new URLSearchParams(params)
  older.set('cursor', list.cursor)
  return html`<nav class="pager" aria-label="Pages">
    ${newest}<a href="${pathWith(req, '/jobs', older)}" rel="next">Older →</a>
  </nav>`
}

/** Links to the confirmation of a bulk action on the filter: requeue for dead jobs, cancel for waiting ones. */
function bulkLinks(req: PageRequest, filter: JobsFilter): SafeHtml {
  const { status } = filter
  if (req.session.readOnly || filter.options === undefined || filter.text.id !== '' || status === undefined)
    return html``
  const action = status === 'dead' ? 'requeue' : CANCELABLE.includes(status) ? 'cancel' : undefined
  if (action === undefined) return html``
  const params = filterParams(filter.text)
  params.set('action', action)
  const label = action === 'requeue' ? 'Requeue all matching…' : 'Cancel all matching…'
  return html`<p><a href="${pathWith(req, '/jobs/confirm', params)}">${label}</a></p>`
}

function page(req: PageRequest, filter: JobsFilter, results: SafeHtml, status = 200): PageResult {
  return {
    title: 'Jobs',
    status,
    body: html`<h1>Jobs</h1>
      ${filterForm(req, filter.text)} ${results}`,
  }
}

async function jobs(req: PageRequest): Promise<PageResult> {
  return withQueue(req, 'Jobs', async (queue) => {
    const filter = readFilter(req.ctx.query)
    if (filter.options === undefined) return page(req, filter, messages(req, filter.error), 400)
    const cursor = req.ctx.query.get('cursor') ?? ''
    if (cursor !== '' && !/^\d+$/.test(cursor)) return page(req, filter, messages(req, 'Bad page cursor'), 400)
    let list: JobList
    try {
      list = await queue.listJobs({
        ...filter.options,
        limit: kPageSize,
        ...(cursor === '' ? {} : { cursor }),
        ...READ,
      })
    } catch (error) {
      if (isTimeout(error)) return page(req, filter, messages(req, TOO_LONG), 504)
      const refused = refusal(error)
      if (refused === undefined) throw error
      return page(req, filter, messages(req, refused.message), refused.status)
    }
    return page(
      req,
      filter,
      html`${messages(req)} ${bulkLinks(req, filter)} ${table(req, list)} ${pager(req, filter, list, cursor === '')}`,
    )
  })
}

export const JOBS_ROUTES: readonly PageRoute[] = [
  { method: 'GET', path: '/jobs', section: '/jobs', handler: jobs },
  // Before the job pages (job.ts): `/jobs/confirm` is not a job id.
  ...BULK_ROUTES,
]
