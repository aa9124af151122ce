/** Overview: jobs per name × status, the oldest waiting job, the dispatch switch. */
import type { PageRequest, PageResult, PageRoute } from '../page.js'
import { html, type SafeHtml } from '../html.js'

const kStatuses = ['pending', 'running', 'retrying', 'completed', 'dead', 'canceled'] as const

function noQueue(): SafeHtml {
  return html`<p class="warning">No job queue: start the server with a database (DATABASE_URL).</p>`
}

async function overview(req: PageRequest): Promise<PageResult> {
  const { queue } = req.deps
  if (queue === undefined)
    return {
      title: 'Overview',
      body: html`<h1>Overview</h1>
        ${noQueue()}`,
    }
  const [stats, dispatch] = await Promise.all([queue.stats(), queue.dispatchStatus()])
  const names = Object.keys(stats.byName).sort()
  const body = html`<h1>Overview</h1>
    ${dispatch.paused ? html`<p class="warning" role="status">Dispatch is paused: ${dispatch.reason ?? ''}</p>` : ''}
    <h2>Jobs per name and status</h2>
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
            html`<tr>
              <th scope="row"><a href="${req.prefix}/jobs?name=${encodeURIComponent(name)}">${name}</a></th>
              ${kStatuses.map((s) => html`<td class="num">${stats.byName[name]?.[s] ?? 0}</td>`)}
            </tr>`,
        )}
      </tbody>
    </table>
    <p>
      Oldest waiting job:
      ${stats.oldestPendingAgeMs === undefined ? 'none' : `due ${Math.round(stats.oldestPendingAgeMs / 1000)} s ago`}
    </p>`
  return { title: 'Overview', body }
}

export const OVERVIEW_ROUTES: readonly PageRoute[] = [{ method: 'GET', path: '/', section: '/', handler: overview }]
