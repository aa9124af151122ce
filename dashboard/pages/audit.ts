/**
 * The audit log (`GET /audit`): every operator action, newest first — who, what, on what, why, when,
 * with its details — paged by keyset (`?before=<id>`: the entries older than the page's last one).
 * Targets that are jobs link to their page.
 */
import type { AuditLogEntry } from '../../actors/jobs/index.js'
import { html, json, type SafeHtml } from '../html.js'
import type { PageRequest, PageResult, PageRoute } from '../page.js'
import { isTimeout, messages, pathWith, READ, time, TOO_LONG, withQueue } from './jobs-common.js'

const kPageSize = 50

function target(req: PageRequest, text: string | undefined): SafeHtml | string {
  if (text === undefined) return ''
  const job = /^job:(\d+)$/.exec(text)
  if (job !== null) return html`<a href="${req.prefix}/jobs/${job[1]}">${text}</a>`
  if (text.startsWith('schedule:')) return html`<a href="${req.prefix}/schedules">${text}</a>`
  return text
}

function row(req: PageRequest, e: AuditLogEntry): SafeHtml {
  return html`<tr>
    <td>${time(e.at)}</td>
    <td>${e.actor}</td>
    <td>${e.action}</td>
    <td>${target(req, e.target)}</td>
    <td>${e.reason ?? ''}</td>
    <td>${e.data === undefined ? '' : html`<code>${json(e.data)}</code>`}</td>
  </tr>`
}

function table(req: PageRequest, entries: readonly AuditLogEntry[]): SafeHtml {
  if (entries.length === 0) return html`<p class="muted">No entry.</p>`
  return html`<table>
    <thead>
      <tr>
        <th scope="col">when</th>
        <th scope="col">who</th>
        <th scope="col">what</th>
        <th scope="col">target</th>
        <th scope="col">reason</th>
        <th scope="col">details</th>
      </tr>
    </thead>
    <tbody>
      ${entries.map((e) => row(req, e))}
    </tbody>
  </table>`
}

async function audit(req: PageRequest): Promise<PageResult> {
  return withQueue(req, 'Audit log', async (queue) => {
    const before = req.ctx.query.get('before') ?? ''
    if (before !== '' && !/^[1-9]\d{0,18}$/.test(before)) {
      return {
        title: 'Audit log',
        status: 400,
        body: html`<h1>Audit log</h1>
          ${messages(req, 'Bad page cursor')}`,
      }
    }
    let entries: AuditLogEntry[]
    try {
      // One more than the page: whether there is an older page.
      entries = await queue.auditLog({ limit: kPageSize + 1, ...(before === '' ? {} : { before }), ...READ })
    } catch (error) {
      if (!isTimeout(error)) throw error
      return {
        title: 'Audit log',
        status: 504,
        body: html`<h1>Audit log</h1>
          ${messages(req, TOO_LONG)}`,
      }
    }
    const page = entries.slice(0, kPageSize)
    const last = page.at(-1)
    const older =
      entries.length > kPageSize && last !== undefined
        ? html`<a href="${pathWith(req, '/audit', new URLSearchParams({ before: last.id }))}" rel="next">Older →</a>`
        : ''
    const newest = before === '' ? '' : html`<a href="${req.prefix}/audit">← Newest</a>`
    const body = html`<h1>Audit log</h1>
      ${messages(req)} ${table(req, page)}
      <nav class="pager" aria-label="Pages">${newest}${older}</nav>`
    return { title: 'Audit log', body }
  })
}

export const AUDIT_ROUTES: readonly PageRoute[] = [{ method: 'GET', path: '/audit', section: '/audit', handler: audit }]
