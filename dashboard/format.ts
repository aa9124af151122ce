/** How the pages write numbers, durations and times: short, unambiguous, the same on every page. */
import { html, type SafeHtml } from './html.js'

/** A duration: `850 ms`, `4.2 s`, `12 min`, `3.5 h`, `2.0 d`. */
export function formatMs(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`
  return `${(ms / 86_400_000).toFixed(1)} d`
}

/** A count; `≈` before an estimate (with its meaning for screen readers). */
export function formatCount(n: number, estimated = false): SafeHtml {
  return estimated ? html`<abbr title="estimated">≈</abbr>${n}` : html`${n}`
}

/** A time as ISO 8601 UTC in a `<time>` element. */
export function formatTime(at: Date | undefined): SafeHtml {
  if (at === undefined || Number.isNaN(at.getTime())) return html`<span class="muted">never</span>`
  return html`<time datetime="${at.toISOString()}">${at.toISOString().replace('T', ' ').slice(0, 19)} UTC</time>`
}

/** What a page shows when a dependency is not configured: what to give the server instead. */
export function missingDependency(what: string, configure: string): SafeHtml {
  return html`<p class="warning" role="status">${what}: ${configure}</p>`
}

export function noRedis(): SafeHtml {
  return missingDependency(
    'No Redis',
    'start the server with REDIS_URL (or --redis) to see streams, pools and replicated maps.',
  )
}

export function noQueue(): SafeHtml {
  return missingDependency('No job queue', 'start the server with a database (DATABASE_URL or --database).')
}

/** Text that may be long, cut to `max` characters with a visible ellipsis. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`
}
