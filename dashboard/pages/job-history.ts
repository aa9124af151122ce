/**
 * A job's attempts and history for the job page. The attempts are read from the history: each
 * 'started' entry opens one (its owner in the entry's data), and the entry that ends it closes it —
 * 'completed', 'canceled', or 'failed' (its error in the data) followed by 'retrying' or 'dead'.
 */
import type { JobHistoryEntry } from '../../actors/jobs/index.js'
import { html, json, type SafeHtml } from '../html.js'
import { errorFields, statusBadge, time } from './jobs-common.js'

export interface Attempt {
  readonly n: number
  readonly startedAt: Date
  readonly owner: string | undefined
  /** 'running' until an entry ends it. */
  outcome: string
  endedAt: Date | undefined
  error: { message: string; stack: string | undefined } | undefined
}

function field(data: unknown, key: string): unknown {
  return typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[key] : undefined
}

export function attemptsOf(history: readonly JobHistoryEntry[]): Attempt[] {
  const attempts: Attempt[] = []
  let open: Attempt | undefined
  for (const entry of history) {
    if (entry.type === 'started') {
      const owner = field(entry.data, 'owner')
      open = {
        n: entry.attempt,
        startedAt: entry.at,
        owner: typeof owner === 'string' ? owner : undefined,
        outcome: 'running',
        endedAt: undefined,
        error: undefined,
      }
      attempts.push(open)
    } else if (open !== undefined && entry.attempt === open.n) {
      if (entry.type === 'failed') {
        open.outcome = 'failed'
        open.endedAt = entry.at
        open.error = errorFields(field(entry.data, 'error'))
      } else if (
        ['completed', 'canceled'].includes(entry.type) ||
        (open.outcome === 'failed' && ['retrying', 'dead'].includes(entry.type))
      ) {
        open.outcome = entry.type
        open.endedAt ??= entry.at
        open = undefined
      }
    }
  }
  return attempts
}

/** Who holds the lease of the running attempt, if the job runs. */
export function leaseOwner(attempts: readonly Attempt[]): string | undefined {
  const last = attempts.at(-1)
  return last?.outcome === 'running' ? last.owner : undefined
}

function errorCell(error: Attempt['error']): SafeHtml {
  if (error === undefined) return html``
  return html`${error.message}
  ${
    error.stack === undefined
      ? ''
      : html`<details>
          <summary>stack</summary>
          <pre>${error.stack}</pre>
        </details>`
  }`
}

export function attemptsTable(attempts: readonly Attempt[]): SafeHtml {
  if (attempts.length === 0) return html`<p class="muted">Not started yet.</p>`
  return html`<table>
    <thead>
      <tr>
        <th scope="col" class="num">attempt</th>
        <th scope="col">started</th>
        <th scope="col">owner</th>
        <th scope="col">ended</th>
        <th scope="col">outcome</th>
        <th scope="col">error</th>
      </tr>
    </thead>
    <tbody>
      ${attempts.map(
        (a) =>
          html`<tr>
            <th scope="row" class="num">${a.n}</th>
            <td>${time(a.startedAt)}</td>
            <td>${a.owner ?? ''}</td>
            <td>${time(a.endedAt)}</td>
            <td>${statusBadge(a.outcome)}</td>
            <td>${errorCell(a.error)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`
}

export function historyTable(history: readonly JobHistoryEntry[]): SafeHtml {
  return html`<table>
    <thead>
      <tr>
        <th scope="col" class="num">seq</th>
        <th scope="col">type</th>
        <th scope="col" class="num">attempt</th>
        <th scope="col">at</th>
        <th scope="col">data</th>
      </tr>
    </thead>
    <tbody>
      ${history.map(
        (e) =>
          html`<tr>
            <th scope="row" class="num">${e.seq}</th>
            <td>${e.type}</td>
            <td class="num">${e.attempt}</td>
            <td>${time(e.at)}</td>
            <td>${e.data === undefined ? '' : html`<pre>${json(e.data)}</pre>`}</td>
          </tr>`,
      )}
    </tbody>
  </table>`
}
