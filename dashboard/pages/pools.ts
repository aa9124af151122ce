/**
 * Pools (`/pools`): the worker pools in Redis, found by SCAN of their node keep-alive and worker maps;
 * `/pools/:name`: who is in the pool and which jobs each worker owns (`readPoolStatus`, read without
 * joining), refreshed every 2 seconds over SSE (`/live/pools/:name`). Liveness is judged with the
 * pools' default `workerTtlMs` (Redis does not hold a pool's own).
 */
import type { Redis } from 'ioredis'

import { type PoolStatus, readPoolStatus } from '../../actors/pool/index.js'
import { isPulseError } from '../../runtime/errors.js'
import { formatTime, noRedis, truncate } from '../format.js'
import { html, type SafeHtml } from '../html.js'
import { serveLive } from '../live.js'
import type { PageRequest, PageResult, PageRoute } from '../page.js'
import { between, scanNames } from '../redis-scan.js'
import { listTable, redisDetailPage, redisListPage } from './redis-page.js'

/** Job keys listed per worker; the count says how many there are. */
const kJobsShown = 20

async function statusOf(client: Redis, name: string): Promise<PoolStatus | undefined> {
  try {
    return await readPoolStatus(client, name)
  } catch (error) {
    // Not a pool name (from a key someone else wrote): no such pool.
    if (isPulseError(error) && error.code === 'PULSE_ERR_INVALID_ARG') return undefined
    throw error
  }
}

function nodesTable(status: PoolStatus): SafeHtml {
  if (status.nodes.length === 0) return html`<p>No nodes.</p>`
  return html`<table>
    <thead>
      <tr>
        <th scope="col">node</th>
        <th scope="col">alive</th>
        <th scope="col">last keep-alive</th>
      </tr>
    </thead>
    <tbody>
      ${status.nodes.map(
        (node) =>
          html`<tr data-node="${node.id}">
            <th scope="row">${node.id}</th>
            <td>${node.alive ? 'yes' : 'no (stale)'}</td>
            <td>${formatTime(node.lastSeen)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`
}

function workersTable(status: PoolStatus): SafeHtml {
  if (status.workers.length === 0) return html`<p>No workers.</p>`
  return html`<table>
    <thead>
      <tr>
        <th scope="col">worker</th>
        <th scope="col">state</th>
        <th scope="col">created</th>
        <th scope="col">last keep-alive</th>
        <th scope="col" class="num">jobs</th>
        <th scope="col">job keys</th>
      </tr>
    </thead>
    <tbody>
      ${status.workers.map(
        (worker) =>
          html`<tr data-worker="${worker.id}">
            <th scope="row">${worker.id}</th>
            <td><span class="status status-${worker.state}">${worker.state}</span></td>
            <td>${formatTime(worker.createdAt)}</td>
            <td>${formatTime(worker.lastSeen)}</td>
            <td class="num" data-jobs>${worker.jobs.length}</td>
            <td>
              ${truncate(worker.jobs.slice(0, kJobsShown).join(', '), 500)}${
                worker.jobs.length > kJobsShown ? ', …' : ''
              }
            </td>
          </tr>`,
      )}
    </tbody>
  </table>`
}

async function detailFragment(client: Redis, name: string): Promise<SafeHtml> {
  const status = await statusOf(client, name)
  if (status === undefined) return html`<p class="warning" role="status">The pool has no node, worker or job now.</p>`
  return html`${
      status.shutdownBy === undefined
        ? ''
        : html`<p class="warning" role="status">Shutting down (asked by node ${status.shutdownBy}).</p>`
    }
    <h2>Nodes</h2>
    ${nodesTable(status)}
    <h2>Workers</h2>
    ${workersTable(status)}
    <h2>Jobs no worker owns</h2>
    <p>
      ${
        status.unownedJobs.length === 0
          ? 'None.'
          : `${status.unownedJobs.length}: ${truncate(status.unownedJobs.slice(0, kJobsShown).join(', '), 500)}`
      }
    </p>`
}

const kPoolColumns = [
  { label: 'pool' },
  { label: 'nodes alive', num: true },
  { label: 'active workers', num: true },
  { label: 'jobs', num: true },
]

function list(req: PageRequest): Promise<PageResult> {
  return redisListPage(req, 'Pools', async (client) => {
    const [nodes, workers] = await Promise.all([
      scanNames(client, 'map:*:node-keepalive:content', (key) => between(key, 'map:', ':node-keepalive:content')),
      scanNames(client, 'map:*:workers:content', (key) => between(key, 'map:', ':workers:content')),
    ])
    const names = [...new Set([...nodes.names, ...workers.names])].sort()
    const statuses = (await Promise.all(names.map((name) => statusOf(client, name)))).filter(
      (s): s is PoolStatus => s !== undefined,
    )
    const rows = statuses.map(
      (s) =>
        html`<tr data-pool="${s.name}">
          <th scope="row"><a href="${req.prefix}/pools/${encodeURIComponent(s.name)}">${s.name}</a></th>
          <td class="num">${s.nodes.filter((n) => n.alive).length}</td>
          <td class="num">${s.workers.filter((w) => w.state === 'active').length}</td>
          <td class="num">${s.workers.reduce((n, w) => n + w.jobs.length, 0) + s.unownedJobs.length}</td>
        </tr>`,
    )
    return listTable(kPoolColumns, rows, 'No pools in this Redis.', nodes.truncated || workers.truncated)
  })
}

function detail(req: PageRequest): Promise<PageResult> {
  return redisDetailPage(req, {
    kind: 'Pool',
    section: 'pools',
    first: async (client, name) =>
      (await statusOf(client, name)) === undefined ? undefined : detailFragment(client, name),
  })
}

async function liveDetail(req: PageRequest): Promise<void> {
  const name = req.ctx.params.name ?? ''
  const client = req.deps.redis?.client
  await serveLive(req, async () => (client === undefined ? noRedis() : detailFragment(client, name)))
}

export const POOL_ROUTES: readonly PageRoute[] = [
  { method: 'GET', path: '/pools', section: '/pools', handler: list },
  { method: 'GET', path: '/pools/:name', section: '/pools', handler: detail },
  { method: 'GET', path: '/live/pools/:name', section: '/pools', handler: liveDetail, live: true },
]
