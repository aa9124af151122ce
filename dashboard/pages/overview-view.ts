/**
 * The overview's live part, from `JobQueue.insights()`: warnings, the queue's vital signs (workers,
 * oldest waiting job, wait and run latency, dead-letters), jobs per name × status (`≈` when estimated
 * from a sample) and the last hour's throughput chart (`data-chart`, drawn by uPlot; its totals in the
 * caption for readers without the chart). A part the database did not answer in time says so.
 */
import type {
  EstimatedJobStats,
  InsightPart,
  JobInsights,
  JobLatency,
  JobThroughput,
  JobWarning,
  LatencyPercentiles,
} from '../../actors/jobs/index.js'
import { formatCount, formatMs, formatTime } from '../format.js'
import { html, type SafeHtml } from '../html.js'

const kStatuses = ['pending', 'running', 'retrying', 'completed', 'dead', 'canceled'] as const

function timedOut(insights: JobInsights, part: InsightPart): SafeHtml | undefined {
  return insights.unavailable.includes(part)
    ? html`<span class="muted unavailable">not available (the database did not answer in time)</span>`
    : undefined
}

function warningText(w: JobWarning): string {
  switch (w.kind) {
    case 'dispatch-paused':
      return `Dispatch is paused${w.reason === undefined ? '' : `: ${w.reason}`}. No job starts until it is resumed${w.since === undefined ? '' : ` (paused at ${w.since.toISOString().replace('T', ' ').slice(0, 19)} UTC)`}.`
    case 'dead-letter-growing':
      return `Dead-letters are growing: ${w.recent} jobs dead-lettered in the last ${formatMs(w.windowMs)}, ${w.previous} in the ${formatMs(w.windowMs)} before.`
    case 'no-worker':
      return `No worker for "${w.name}": its jobs have waited for more than a minute (the oldest for ${formatMs(w.oldestAgeMs)}) and none of them started in the last 5 minutes.`
  }
}

function warningLink(w: JobWarning, prefix: string): SafeHtml {
  switch (w.kind) {
    case 'dispatch-paused':
      return html`<a href="${prefix}/dispatch">Dispatch settings</a>`
    case 'dead-letter-growing':
      return html`<a href="${prefix}/jobs?status=dead">Dead jobs</a>`
    case 'no-worker':
      return html`<a href="${prefix}/jobs?name=${encodeURIComponent(w.name)}&amp;status=pending"
        >Waiting jobs of ${w.name}</a
      >`
  }
}

function warnings(insights: JobInsights, prefix: string): SafeHtml {
  if (insights.warnings.length === 0) return html``
  return html`<ul class="warnings" aria-label="Warnings">
    ${insights.warnings.map(
      (w) => html`<li class="warning" data-warning="${w.kind}">${warningText(w)} ${warningLink(w, prefix)}</li>`,
    )}
  </ul>`
}

function card(label: string, value: SafeHtml, note?: SafeHtml): SafeHtml {
  return html`<div class="card">
    <div class="label">${label}</div>
    <div class="value">${value}</div>
    ${note === undefined ? '' : html`<div class="muted">${note}</div>`}
  </div>`
}

/** A latency card: p50 as the value, p90 and p99 under it. */
function latencyCard(label: string, p: LatencyPercentiles | undefined, latency: JobLatency | undefined): SafeHtml {
  const attempts = html`${latency?.attempts ?? 0} newest completed attempts of the last hour.`
  if (p === undefined) return card(label, html`<span class="muted">no completed job</span>`, attempts)
  return card(label, html`p50 ${formatMs(p.p50)}`, html`p90 ${formatMs(p.p90)} · p99 ${formatMs(p.p99)}; ${attempts}`)
}

function latencyCards(insights: JobInsights, latency: JobLatency | undefined): SafeHtml {
  const missing = timedOut(insights, 'latency')
  if (missing !== undefined)
    return html`${card('Wait (due → started)', missing)} ${card('Run (started → completed)', missing)}`
  return html`${latencyCard('Wait (due → started)', latency?.waitMs, latency)}
  ${latencyCard('Run (started → completed)', latency?.runMs, latency)}`
}

function vitals(insights: JobInsights, prefix: string): SafeHtml {
  const { workers, oldestWaiting, deadLetters } = insights
  const owners = workers?.runningOwners.length ?? 0
  return html`<div class="cards">
    ${card(
      'Workers connected',
      timedOut(insights, 'workers') ?? html`<span data-workers>${workers?.connected ?? 0}</span>`,
      html`Started job queues holding their wake-up connection to this schema (PostgreSQL sessions); ${owners}
      ${owners === 1 ? 'worker holds' : 'workers hold'} leases now.`,
    )}
    ${card(
      'Oldest waiting job',
      timedOut(insights, 'oldestWaiting') ??
        (oldestWaiting === undefined ? html`none` : html`${formatMs(oldestWaiting.ageMs)}`),
      oldestWaiting === undefined
        ? undefined
        : html`<a href="${prefix}/jobs/${oldestWaiting.id}">${oldestWaiting.name} #${oldestWaiting.id}</a>, due since
            ${formatTime(oldestWaiting.dueAt)}`,
    )}
    ${latencyCards(insights, insights.latency)}
    ${card(
      'Dead-lettered, last 15 min',
      timedOut(insights, 'deadLetters') ?? html`${deadLetters?.recent ?? 0}`,
      deadLetters === undefined ? undefined : html`${deadLetters.previous} in the 15 minutes before`,
    )}
  </div>`
}

function countsTable(counts: EstimatedJobStats, prefix: string): SafeHtml {
  const names = Object.keys(counts.byName).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  if (names.length === 0) return html`<p>No jobs.</p>`
  return html`${
      counts.estimated
        ? html`<p class="muted">
            Estimated (≈) from a sample of ${counts.samplePercent?.toFixed(2) ?? '?'} % of the table: counting a table
            this large exactly would read all of it.
          </p>`
        : ''
    }
    <table>
      <thead>
        <tr>
          <th scope="col">name</th>
          ${kStatuses.map((s) => html`<th scope="col" class="num">${s}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${names.map(
          (name) =>
            html`<tr data-name="${name}">
              <th scope="row"><a href="${prefix}/jobs?name=${encodeURIComponent(name)}">${name}</a></th>
              ${kStatuses.map((s) => {
                const n = counts.byName[name]?.[s] ?? 0
                return html`<td class="${n === 0 ? 'num muted' : 'num'}" data-status="${s}">
                  ${formatCount(n, counts.estimated)}
                </td>`
              })}
            </tr>`,
        )}
      </tbody>
    </table>`
}

/** The chart's spec for `[data-chart]`: x in unix seconds, then one series per kind. */
export function throughputSpec(throughput: JobThroughput): { series: string[]; data: number[][] } {
  const m = throughput.minutes
  return {
    series: ['completed', 'failed', 'dead'],
    data: [
      m.map((x) => Math.floor(x.at.getTime() / 1000)),
      m.map((x) => x.completed),
      m.map((x) => x.failed),
      m.map((x) => x.dead),
    ],
  }
}

function throughputChart(throughput: JobThroughput): SafeHtml {
  const sum = (key: 'completed' | 'failed' | 'dead') => throughput.minutes.reduce((n, x) => n + x[key], 0)
  const totals = `${sum('completed')} completed, ${sum('failed')} failed, ${sum('dead')} dead-lettered`
  return html`<figure>
    <div
      class="chart"
      role="img"
      aria-label="Jobs per minute over the last hour: ${totals}"
      data-chart="${JSON.stringify(throughputSpec(throughput))}"
    ></div>
    <figcaption>Per minute, last hour: ${totals}.</figcaption>
  </figure>`
}

/** The fragment the overview shows and its live route sends. */
export function overviewFragment(insights: JobInsights, prefix: string): SafeHtml {
  return html`${warnings(insights, prefix)} ${vitals(insights, prefix)}
    <h2>Jobs per name and status</h2>
    ${timedOut(insights, 'counts') ?? (insights.counts === undefined ? '' : countsTable(insights.counts, prefix))}
    <h2>Throughput</h2>
    ${
      timedOut(insights, 'throughput') ??
      (insights.throughput === undefined ? '' : throughputChart(insights.throughput))
    }
    <p class="muted">As of ${formatTime(insights.at)}; refreshes every 2 seconds.</p>`
}
