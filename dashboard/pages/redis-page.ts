/**
 * The shape the Redis pages (streams, pools, maps) share: a list of what a SCAN found, as a table or a
 * line saying there is none, and a detail page that is 404 when the object does not exist and
 * otherwise shows its fragment inside a live region fed by `/live/<section>/<name>`.
 */
import type { Redis } from 'ioredis'

import { noRedis } from '../format.js'
import { html, type SafeHtml } from '../html.js'
import type { PageRequest, PageResult } from '../page.js'

export interface Column {
  readonly label: string
  readonly num?: boolean
}

/** A list page's table of `rows`, or `empty` when there are none; `truncated` notes a SCAN cut short. */
export function listTable(columns: readonly Column[], rows: readonly SafeHtml[], empty: string, truncated: boolean) {
  const note = truncated ? html`<p class="muted">Showing the first ${rows.length} found.</p>` : ''
  if (rows.length === 0)
    return html`${note}
      <p>${empty}</p>`
  return html`${note}
    <table>
      <thead>
        <tr>
          ${columns.map((c) => html`<th scope="col" ${c.num === true ? html`class="num"` : ''}>${c.label}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>`
}

/** A list page: its `<h1>`, then `body` (given the Redis client), or what to configure without Redis. */
export async function redisListPage(
  req: PageRequest,
  title: string,
  body: (client: Redis) => Promise<SafeHtml>,
): Promise<PageResult> {
  const client = req.deps.redis?.client
  return {
    title,
    body: html`<h1>${title}</h1>
      ${client === undefined ? noRedis() : await body(client)}`,
  }
}

export interface DetailPage {
  /** 'Stream', 'Pool', 'Map'. */
  readonly kind: string
  /** The section's path without the slash: 'streams', 'pools', 'maps'. */
  readonly section: string
  /** The first fragment, or `undefined` when the object does not exist. */
  readonly first: (client: Redis, name: string) => Promise<SafeHtml | undefined>
}

/** The detail page of the object named by the route's `:name`. */
export async function redisDetailPage(req: PageRequest, page: DetailPage): Promise<PageResult> {
  const name = req.ctx.params.name ?? ''
  const title = `${page.kind} ${name}`
  const client = req.deps.redis?.client
  if (client === undefined)
    return {
      title,
      body: html`<h1>${title}</h1>
        ${noRedis()}`,
    }
  const fragment = await page.first(client, name)
  if (fragment === undefined) {
    const missing = html`<h1>${title}</h1>
      <p class="error" role="alert">No such ${page.kind.toLowerCase()}.</p>`
    return { title, status: 404, body: missing }
  }
  const live = `${req.prefix}/live/${page.section}/${encodeURIComponent(name)}`
  const body = html`<h1>${title}</h1>
    <p><a href="${req.prefix}/${page.section}">All ${page.section}</a></p>
    <div data-live="${live}">${fragment}</div>`
  return { title, body }
}
