/**
 * The jobs browser's filter: read from a query string or a form (status, name, id, payload
 * containment, creation time range), checked into `listJobs` / `countJobs` options, written back into
 * links (the pager, the bulk actions keep it), and shown as the filter form.
 */
import type { JobFilter, JobStatus, ListJobsOptions } from '../../actors/jobs/index.js'
import { html, type SafeHtml } from '../html.js'
import type { PageRequest } from '../page.js'
import { STATUSES } from './jobs-common.js'

/** The fields as given (empty when absent), to put back into the form and the links. */
export interface FilterText {
  readonly status: string
  readonly name: string
  readonly id: string
  readonly args: string
  readonly from: string
  readonly to: string
}

const kFields = ['status', 'name', 'id', 'args', 'from', 'to'] as const

export interface JobsFilter {
  readonly text: FilterText
  /** The checked filter; `undefined` when a field is invalid (`error` says which). */
  readonly options: (JobFilter & Pick<ListJobsOptions, 'id'>) | undefined
  readonly error: string | undefined
  /** The status, when it is one. */
  readonly status: JobStatus | undefined
}

/** Local date-time without a zone, as `<input type="datetime-local">` sends it: read as UTC. */
const kLocalTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/
const kIsoTime = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/

function parseTime(text: string, label: string): Date {
  const value = kLocalTime.test(text) ? new Date(`${text}Z`) : kIsoTime.test(text) ? new Date(text) : undefined
  if (value === undefined || Number.isNaN(value.getTime()))
    throw new FilterError(`${label} must be a date and time like 2030-01-31T09:00 (UTC) or ISO 8601 text`)
  return value
}

function parsePayload(text: string): Record<string, unknown> | unknown[] {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new FilterError(`Payload match is not valid JSON: ${(error as Error).message}`)
  }
  if (typeof value !== 'object' || value === null)
    throw new FilterError('Payload match must be a JSON object, like {"to":"a@example.com"}')
  return value as Record<string, unknown> | unknown[]
}

class FilterError extends Error {}

function checked(text: FilterText): JobFilter & Pick<ListJobsOptions, 'id'> {
  if (text.status !== '' && !(STATUSES as readonly string[]).includes(text.status))
    throw new FilterError(`Unknown status ${JSON.stringify(text.status)}`)
  if (text.id !== '' && !/^\d+$/.test(text.id)) throw new FilterError('Id must be a job id (digits)')
  return {
    ...(text.status === '' ? {} : { status: text.status as JobStatus }),
    ...(text.name === '' ? {} : { name: text.name }),
    ...(text.id === '' ? {} : { id: text.id }),
    ...(text.args === '' ? {} : { argsContain: parsePayload(text.args) }),
    ...(text.from === '' ? {} : { createdAfter: parseTime(text.from, 'Created from') }),
    ...(text.to === '' ? {} : { createdBefore: parseTime(text.to, 'Created to') }),
  }
}

/** The filter of `params` (a query string or a posted form). */
export function readFilter(params: URLSearchParams): JobsFilter {
  const field = (name: string) => (params.get(name) ?? '').trim()
  const text: FilterText = {
    status: field('status'),
    name: field('name'),
    id: field('id'),
    args: field('args'),
    from: field('from'),
    to: field('to'),
  }
  const status = (STATUSES as readonly string[]).includes(text.status) ? (text.status as JobStatus) : undefined
  try {
    return { text, options: checked(text), error: undefined, status }
  } catch (error) {
    if (!(error instanceof FilterError)) throw error
    return { text, options: undefined, error: error.message, status }
  }
}

/** The non-empty fields, for a link that keeps the filter. */
export function filterParams(text: FilterText): URLSearchParams {
  const params = new URLSearchParams()
  for (const name of kFields) if (text[name] !== '') params.set(name, text[name])
  return params
}

/** The fields as hidden inputs, for a form that acts on the filter. */
export function hiddenFilter(text: FilterText): SafeHtml {
  return html`${kFields.map((name) =>
    text[name] === '' ? '' : html`<input type="hidden" name="${name}" value="${text[name]}" />`,
  )}`
}

/** A time field's value as `datetime-local` takes it (UTC, to the second), or as given when not a time. */
function localValue(text: string): string {
  if (text === '' || kLocalTime.test(text)) return text
  const value = new Date(text)
  return kIsoTime.test(text) && !Number.isNaN(value.getTime()) ? value.toISOString().slice(0, 19) : text
}

/** The filter form (GET, so a filtered list is a link). */
export function filterForm(req: PageRequest, text: FilterText): SafeHtml {
  return html`<form class="filters" method="get" action="${req.prefix}/jobs" role="search">
    <label
      >Status
      <select name="status">
        <option value="">any</option>
        ${STATUSES.map((s) => html`<option value="${s}" ${text.status === s ? html`selected` : ''}>${s}</option>`)}
      </select></label
    >
    <label>Name <input name="name" value="${text.name}" /></label>
    <label>Id <input name="id" value="${text.id}" inputmode="numeric" size="10" /></label>
    <label
      >Payload contains (JSON)
      <input name="args" value="${text.args}" placeholder='{"to":"a@example.com"}' spellcheck="false"
    /></label>
    <label
      >Created from (UTC) <input type="datetime-local" step="1" name="from" value="${localValue(text.from)}"
    /></label>
    <label>Created to (UTC) <input type="datetime-local" step="1" name="to" value="${localValue(text.to)}" /></label>
    <button type="submit">Search</button>
    <a href="${req.prefix}/jobs">Clear</a>
  </form>`
}

/** The filter in words, for the confirmation page. */
export function describeFilter(text: FilterText): SafeHtml {
  const parts: [string, string][] = [
    ['status', text.status],
    ['name', text.name],
    ['payload contains', text.args],
    ['created from', text.from],
    ['created before', text.to],
  ]
  return html`<dl>
    ${parts
      .filter(([, value]) => value !== '')
      .map(
        ([label, value]) =>
          html`<dt>${label}</dt>
            <dd><code>${value}</code></dd>`,
      )}
  </dl>`
}
