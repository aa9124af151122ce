/**
 * What the job queue's pages (jobs, job, schedules, dispatch, audit) share: the time bound of their
 * reads, the page shown without a queue, the notice of a finished action, action buttons (disabled for
 * a read-only user), and the rendering of statuses, times and error records.
 */
import type { JobQueue, JobStatus } from '../../actors/jobs/index.js'
import { isPulseError } from '../../runtime/errors.js'
import { html, type SafeHtml } from '../html.js'
import type { PageRequest, PageResult } from '../page.js'

/**
 * Every read of these pages runs under this statement timeout: a page answers within ~300 ms of
 * server time even over a million jobs, or says the search was too broad.
 */
export const READ = Object.freeze({ timeoutMs: 250 })

export const STATUSES: readonly JobStatus[] = ['pending', 'running', 'retrying', 'completed', 'dead', 'canceled']
export const CANCELABLE: readonly JobStatus[] = ['pending', 'running', 'retrying']

export const TOO_LONG = 'The search took too long; narrow it by status, name or time.'

/** Whether `error` is a read that ran past its bound (`READ`). */
export function isTimeout(error: unknown): boolean {
  return isPulseError(error) && error.code === 'PULSE_ERR_TIMEOUT'
}

/** The page status of the library's refusals an operator can act on (a stale page, a bad value). */
const kRefusals: Readonly<Record<string, number>> = {
  PULSE_ERR_JOB_STATE: 409,
  PULSE_ERR_JOB_NOT_FOUND: 404,
  PULSE_ERR_JOB_SCHEDULE_NOT_FOUND: 404,
  PULSE_ERR_INVALID_ARG: 400,
}

/** A refusal to show on the page (its message and status), or `undefined` for an error to rethrow. */
export function refusal(error: unknown): { message: string; status: number } | undefined {
  if (!isPulseError(error)) return undefined
  const status = kRefusals[error.code]
  return status === undefined ? undefined : { message: `${error.code}: ${error.message}`, status }
}

/** Runs `fn` with the queue, or answers the page that says none is configured (503 for an action). */
export async function withQueue(
  req: PageRequest,
  title: string,
  fn: (queue: JobQueue) => Promise<PageResult>,
): Promise<PageResult> {
  const { queue } = req.deps
  if (queue !== undefined) return fn(queue)
  return {
    title,
    status: req.ctx.req.method === 'POST' ? 503 : 200,
    body: html`<h1>${title}</h1>
      <p class="warning">No job queue: start the server with a database (DATABASE_URL).</p>`,
  }
}

/** `path` under the prefix with `params`, and the notice `done` the page shows (PRG). */
export function pathWith(req: PageRequest, path: string, params: URLSearchParams, done?: string): string {
  const query = new URLSearchParams(params)
  if (done !== undefined) query.set('done', done)
  const text = query.toString()
  return `${req.prefix}${path}${text === '' ? '' : `?${text}`}`
}

/** The notice of the action that redirected here (`?done=`), and an error to show, if any. */
export function messages(req: PageRequest, error?: string): SafeHtml {
  const done = req.ctx.query.get('done')
  return html`${done === null || done === '' ? '' : html`<p class="notice" role="status">${done}</p>`}
  ${error === undefined ? '' : html`<p class="error" role="alert">${error}</p>`}`
}

export function csrfField(req: PageRequest): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${req.csrf}" />`
}

export interface ActionButton {
  /** The POST target under the prefix. */
  readonly path: string
  readonly label: string
  readonly danger?: boolean
  /** A question the dashboard's script asks first (the action still works without JavaScript). */
  readonly confirm?: string
  /** Fields posted with it. */
  readonly fields?: SafeHtml
}

/** A one-button form; its button is disabled for a read-only user (the server refuses them anyway). */
export function actionButton(req: PageRequest, action: ActionButton): SafeHtml {
  const readOnly = req.session.readOnly
  return html`<form
    class="inline"
    method="post"
    action="${req.prefix}${action.path}"
    ${action.confirm === undefined ? '' : html`data-confirm="${action.confirm}"`}
  >
    ${csrfField(req)}${action.fields ?? ''}
    <button
      type="submit"
      ${action.danger === true ? html`class="danger"` : ''}
      ${readOnly ? html`disabled title="read-only user"` : ''}
    >
      ${action.label}
    </button>
  </form>`
}

/** A note for a read-only user where the actions would be. */
export function readOnlyNote(req: PageRequest): SafeHtml {
  return req.session.readOnly ? html`<p class="muted">You are signed in read-only: actions are disabled.</p>` : html``
}

export function statusBadge(status: string): SafeHtml {
  return html`<span class="status status-${status}">${status}</span>`
}

/** A time as UTC text in a `<time>` element; an em dash when absent. */
export function time(value: Date | undefined): SafeHtml {
  if (value === undefined || Number.isNaN(value.getTime())) return html`<span class="muted">—</span>`
  const iso = value.toISOString()
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')} UTC</time>`
}

/** The fields of an error record (`toWire`: `{ name, message, stack, code, … }`) a page shows. */
export function errorFields(record: unknown): { message: string; stack: string | undefined } | undefined {
  if (typeof record !== 'object' || record === null) return undefined
  const { name, message, stack, code } = record as Record<string, unknown>
  const head = [typeof code === 'string' ? code : undefined, typeof name === 'string' ? name : undefined]
    .filter((part) => part !== undefined)
    .join(' ')
  const text = typeof message === 'string' ? message : JSON.stringify(record)
  return { message: head === '' ? text : `${head}: ${text}`, stack: typeof stack === 'string' ? stack : undefined }
}

/** `text` cut to `max` characters, with an ellipsis when cut. */
export function short(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}
