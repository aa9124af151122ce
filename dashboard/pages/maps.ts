/**
 * Maps (`/maps`): the replicated maps in Redis (`map:<name>:content` hashes, found by SCAN) with their
 * size and revision; `/maps/:name`: its keys and values (escaped, long values cut, at most 1,000 keys),
 * kept current over SSE (`/live/maps/:name`) by a replica the live route joins (`ReplicatedMap.join`:
 * it only reads) and re-renders on each change notification.
 */
import type { Redis } from 'ioredis'

import { ReplicatedMap } from '../../actors/rmap/index.js'
import { pipelineReplies } from '../../transports/redis/pipeline-replies.js'
import { contentKey } from '../../transports/redis/rmap/keys.js'
import { noRedis, truncate } from '../format.js'
import { html, type SafeHtml } from '../html.js'
import { serveLive, serveLiveOn } from '../live.js'
import type { PageRequest, PageResult, PageRoute } from '../page.js'
import { between, scanNames } from '../redis-scan.js'
import { listTable, redisDetailPage, redisListPage } from './redis-page.js'

const kKeysShown = 1_000
const kValueChars = 1_000

interface MapContent {
  readonly revision: number
  /** User keys only (the reserved `=` fields left out). */
  readonly entries: ReadonlyMap<string, string>
}

async function readContent(client: Redis, name: string): Promise<MapContent> {
  const hash = await client.hgetall(contentKey(name))
  const entries = new Map(Object.entries(hash).filter(([key]) => !key.startsWith('=')))
  return { revision: Number(hash['=rev'] ?? 0), entries }
}

function contentFragment(content: MapContent): SafeHtml {
  const keys = [...content.entries.keys()].sort()
  return html`<p>Revision ${content.revision}, ${keys.length} ${keys.length === 1 ? 'key' : 'keys'}.</p>
    ${keys.length > kKeysShown ? html`<p class="muted">Showing the first ${kKeysShown} keys.</p>` : ''}
    ${
      keys.length === 0
        ? html`<p>The map is empty.</p>`
        : html`<table>
            <thead>
              <tr>
                <th scope="col">key</th>
                <th scope="col">value</th>
              </tr>
            </thead>
            <tbody>
              ${keys.slice(0, kKeysShown).map(
                (key) =>
                  html`<tr data-key="${key}">
                    <th scope="row">${key}</th>
                    <td><code class="payload">${truncate(content.entries.get(key) ?? '', kValueChars)}</code></td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }`
}

const kMapColumns = [{ label: 'map' }, { label: 'keys', num: true }, { label: 'revision', num: true }]

function list(req: PageRequest): Promise<PageResult> {
  return redisListPage(req, 'Maps', async (client) => {
    const found = await scanNames(client, 'map:*:content', (key) => between(key, 'map:', ':content'), {
      type: 'hash',
    })
    const pipeline = client.pipeline()
    for (const name of found.names) pipeline.hlen(contentKey(name)).hget(contentKey(name), '=rev')
    const replies = found.names.length === 0 ? [] : pipelineReplies(await pipeline.exec())
    const rows = found.names.map((name, i) => {
      const fields = Number(replies[2 * i] ?? 0)
      const rev = replies[2 * i + 1]
      // HLEN counts the reserved fields too (`=rev`, `=kind`), which every written map has.
      const size = Math.max(0, fields - (rev === null || rev === undefined ? 0 : 2))
      return html`<tr data-map="${name}">
        <th scope="row"><a href="${req.prefix}/maps/${encodeURIComponent(name)}">${name}</a></th>
        <td class="num">${size}</td>
        <td class="num">${typeof rev === 'string' ? rev : 0}</td>
      </tr>`
    })
    return listTable(kMapColumns, rows, 'No replicated maps in this Redis.', found.truncated)
  })
}

function detail(req: PageRequest): Promise<PageResult> {
  return redisDetailPage(req, {
    kind: 'Map',
    section: 'maps',
    first: async (client, name) => {
      const content = await readContent(client, name)
      return content.revision === 0 && content.entries.size === 0 ? undefined : contentFragment(content)
    },
  })
}

async function liveDetail(req: PageRequest): Promise<void> {
  const name = req.ctx.params.name ?? ''
  const redis = req.deps.redis
  if (redis === undefined) {
    await serveLive(req, () => Promise.resolve(noRedis()))
    return
  }
  const map = await ReplicatedMap.join(redis, name, { signal: req.ctx.signal })
  try {
    // Subscribed before the first render: no change falls between the two.
    const feed = map.subscribe()
    await serveLiveOn(req, feed, () =>
      Promise.resolve(contentFragment({ revision: map.revision, entries: new Map(Object.entries(map.toObject())) })),
    )
  } finally {
    await map.close()
  }
}

export const MAP_ROUTES: readonly PageRoute[] = [
  { method: 'GET', path: '/maps', section: '/maps', handler: list },
  { method: 'GET', path: '/maps/:name', section: '/maps', handler: detail },
  { method: 'GET', path: '/live/maps/:name', section: '/maps', handler: liveDetail, live: true },
]
