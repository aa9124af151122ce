/**
 * Schedules (`GET /schedules`): each with its job, its spec in words, its next run and whether it is
 * paused, and the Pause / Resume / Delete actions (`POST /schedules/:id/pause|resume|delete`). Delete
 * asks first through the dashboard's script (`data-confirm`) and works without it.
 */
import ms from 'ms'

import type { JobQueue, ScheduleInfo, ScheduleSpec } from '../../actors/jobs/index.js'
import { html, type SafeHtml } from '../html.js'
import type { PageRequest, PageResult, PageRoute } from '../page.js'
import {
  actionButton,
  isTimeout,
  messages,
  pathWith,
  READ,
  readOnlyNote,
  refusal,
  time,
  TOO_LONG,
  withQueue,
} from './jobs-common.js'

/** `spec` in words: "every 5m", "cron 0 * * * * (Europe/Paris)", "at 2030-01-31T09:00:00.000Z". */
export function specText(spec: ScheduleSpec): string {
  switch (spec.kind) {
    case 'every':
      return `every ${ms(spec.everyMs, { long: true })}`
    case 'cron':
      return `cron ${spec.expr}${spec.tz === 'UTC' ? '' : ` (${spec.tz})`}`
    case 'at':
      return `once at ${spec.at}`
    default:
      return JSON.stringify(spec)
  }
}

function row(req: PageRequest, s: ScheduleInfo): SafeHtml {
  const base = `/schedules/${encodeURIComponent(s.id)}`
  const toggle = s.paused
    ? actionButton(req, { path: `${base}/resume`, label: `Resume ${s.name}` })
    : actionButton(req, { path: `${base}/pause`, label: `Pause ${s.name}` })
  const remove = actionButton(req, {
    path: `${base}/delete`,
    label: `Delete ${s.name}`,
    danger: true,
    confirm: `Delete schedule "${s.name}"? The jobs it spawned stay.`,
  })
  return html`<tr>
    <th scope="row">${s.name}</th>
    <td><a href="${req.prefix}/jobs?name=${encodeURIComponent(s.jobName)}">${s.jobName}</a></td>
    <td>${specText(s.spec)}</td>
    <td>${time(s.nextRunAt)}</td>
    <td>${s.paused ? 'paused' : 'no'}</td>
    <td>${toggle} ${remove}</td>
  </tr>`
}

async function render(req: PageRequest, queue: JobQueue, error?: string, status = 200): Promise<PageResult> {
  let schedules: ScheduleInfo[]
  try {
    schedules = await queue.listSchedules(READ)
  } catch (e) {
    if (!isTimeout(e)) throw e
    return {
      title: 'Schedules',
      status: 504,
      body: html`<h1>Schedules</h1>
        ${messages(req, TOO_LONG)}`,
    }
  }
  const table =
    schedules.length === 0
      ? html`<p class="muted">No schedule.</p>`
      : html`<table>
          <thead>
            <tr>
              <th scope="col">name</th>
              <th scope="col">job</th>
              <th scope="col">spec</th>
              <th scope="col">next run</th>
              <th scope="col">paused</th>
              <th scope="col">actions</th>
            </tr>
          </thead>
          <tbody>
            ${schedules.map((s) => row(req, s))}
          </tbody>
        </table>`
  return {
    title: 'Schedules',
    status,
    body: html`<h1>Schedules</h1>
      ${messages(req, error)} ${readOnlyNote(req)} ${table}`,
  }
}

function list(req: PageRequest): Promise<PageResult> {
  return withQueue(req, 'Schedules', (queue) => render(req, queue))
}

type Action = 'pause' | 'resume' | 'delete'

const kPast: Record<Action, string> = { pause: 'paused', resume: 'resumed', delete: 'deleted' }

function act(action: Action): (req: PageRequest) => Promise<PageResult> {
  return (req) =>
    withQueue(req, 'Schedules', async (queue) => {
      const id = req.ctx.params.id ?? ''
      const note = { actor: req.actor }
      try {
        if (action === 'pause') await queue.pauseSchedule(id, note)
        else if (action === 'resume') await queue.resumeSchedule(id, note)
        else if (!(await queue.deleteSchedule(id, note))) return render(req, queue, `No schedule has id ${id}`, 404)
      } catch (error) {
        const refused = refusal(error)
        if (refused === undefined) throw error
        return render(req, queue, refused.message, refused.status)
      }
      return { location: pathWith(req, '/schedules', new URLSearchParams(), `${kPast[action]} schedule ${id}`) }
    })
}

export const SCHEDULES_ROUTES: readonly PageRoute[] = [
  { method: 'GET', path: '/schedules', section: '/schedules', handler: list },
  { method: 'POST', path: '/schedules/:id/pause', section: '/schedules', handler: act('pause') },
  { method: 'POST', path: '/schedules/:id/resume', section: '/schedules', handler: act('resume') },
  { method: 'POST', path: '/schedules/:id/delete', section: '/schedules', handler: act('delete') },
]
