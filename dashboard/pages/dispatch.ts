/**
 * Dispatch (`GET /dispatch`): whether workers claim jobs, why not, since when, and who set it (the
 * newest 'dispatch.pause' or 'dispatch.resume' entry of the audit log); a Pause form with a reason
 * (`POST /dispatch/pause`) and a Resume button (`POST /dispatch/resume`).
 */
import type { AuditLogEntry, DispatchStatus } from '../../actors/jobs/index.js'
import { html, type SafeHtml } from '../html.js'
import type { PageRequest, PageResult, PageRoute } from '../page.js'
import {
  csrfField,
  isTimeout,
  messages,
  pathWith,
  READ,
  readOnlyNote,
  time,
  TOO_LONG,
  withQueue,
} from './jobs-common.js'

function who(entry: AuditLogEntry | undefined): SafeHtml {
  if (entry === undefined) return html`<span class="muted">no pause or resume recorded</span>`
  const verb = entry.action === 'dispatch.pause' ? 'paused' : 'resumed'
  return html`${verb} by <strong>${entry.actor}</strong> at ${time(entry.at)}`
}

function controls(req: PageRequest, state: DispatchStatus): SafeHtml {
  const disabled = req.session.readOnly ? html`disabled title="read-only user"` : ''
  if (state.paused) {
    return html`<form method="post" action="${req.prefix}/dispatch/resume">
      ${csrfField(req)}
      <button type="submit" ${disabled}>Resume dispatch</button>
    </form>`
  }
  return html`<form method="post" action="${req.prefix}/dispatch/pause">
    ${csrfField(req)}
    <label for="dispatch-reason">Reason</label>
    <input id="dispatch-reason" name="reason" size="40" placeholder="db maintenance" ${disabled} />
    <button type="submit" class="danger" ${disabled}>Pause dispatch</button>
  </form>`
}

async function show(req: PageRequest): Promise<PageResult> {
  return withQueue(req, 'Dispatch', async (queue) => {
    let read: [DispatchStatus, AuditLogEntry[]]
    try {
      read = await Promise.all([
        queue.dispatchStatus(READ),
        queue.auditLog({ action: ['dispatch.pause', 'dispatch.resume'], limit: 1, ...READ }),
      ])
    } catch (error) {
      if (!isTimeout(error)) throw error
      return {
        title: 'Dispatch',
        status: 504,
        body: html`<h1>Dispatch</h1>
          ${messages(req, TOO_LONG)}`,
      }
    }
    const [state, [last]] = read
    const body = html`<h1>Dispatch</h1>
      ${messages(req)}
      <dl>
        <dt>state</dt>
        <dd>
          ${
            state.paused
              ? html`<span class="status status-dead">paused</span>`
              : html`<span class="status status-completed">running</span>`
          }
        </dd>
        <dt>reason</dt>
        <dd>${state.reason ?? html`<span class="muted">—</span>`}</dd>
        <dt>last paused at</dt>
        <dd>${time(state.pausedAt)}</dd>
        <dt>set by</dt>
        <dd>${who(last)}${last?.reason === undefined ? '' : html` (“${last.reason}”)`}</dd>
      </dl>
      <p class="muted">Pausing stops claims on every replica; enqueues, running jobs and schedules go on.</p>
      ${readOnlyNote(req)} ${controls(req, state)}`
    return { title: 'Dispatch', body }
  })
}

async function pause(req: PageRequest): Promise<PageResult> {
  return withQueue(req, 'Dispatch', async (queue) => {
    const reason = ((await req.form()).get('reason') ?? '').trim()
    await queue.pauseDispatch(reason === '' ? undefined : reason, { actor: req.actor })
    return { location: pathWith(req, '/dispatch', new URLSearchParams(), 'paused dispatch') }
  })
}

async function resume(req: PageRequest): Promise<PageResult> {
  return withQueue(req, 'Dispatch', async (queue) => {
    await queue.resumeDispatch({ actor: req.actor })
    return { location: pathWith(req, '/dispatch', new URLSearchParams(), 'resumed dispatch') }
  })
}

export const DISPATCH_ROUTES: readonly PageRoute[] = [
  { method: 'GET', path: '/dispatch', section: '/dispatch', handler: show },
  { method: 'POST', path: '/dispatch/pause', section: '/dispatch', handler: pause },
  { method: 'POST', path: '/dispatch/resume', section: '/dispatch', handler: resume },
]
