/**
 * Runtime (`/runtime`): the actors of the runtime in this process (`Runtime.stats()`: thread, state,
 * mailbox depth, messages handled and dropped, restarts, receive latency), refreshed every 2 seconds
 * over SSE (`/live/runtime`). `pulse server` runs no runtime of its own: the page then says so, and
 * how to see one (a service that mounts the dashboard with its runtime).
 */
import type { Runtime } from '../../runtime/index.js'
import { html, type SafeHtml } from '../html.js'
import { serveLive } from '../live.js'
import type { PageRequest, PageResult, PageRoute } from '../page.js'

function noRuntime(): SafeHtml {
  return html`<p class="warning" role="status">
      This server process runs no actor runtime, so there are no actors to show here.
    </p>
    <p>
      To see a service's actors, mount the dashboard in that service with its runtime:
      <code>new Dashboard({ runtime, queue, redis }).mount(router)</code> (<code>dashboard/app.ts</code>), or give
      <code>PulseServer.listen({ runtime })</code> the runtime the service already runs. <code>pulse dev</code> shows
      the runtime of its example workload.
    </p>`
}

function micros(us: number): string {
  return us < 1_000 ? `${Math.round(us)} µs` : `${(us / 1_000).toFixed(1)} ms`
}

async function actorsFragment(runtime: Runtime): Promise<SafeHtml> {
  const stats = (await runtime.stats()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  if (stats.length === 0) return html`<p>The runtime has no actors now.</p>`
  const threads = new Set(stats.map((s) => s.thread)).size
  return html`<p>
      ${stats.length} ${stats.length === 1 ? 'actor' : 'actors'} on ${threads} ${threads === 1 ? 'thread' : 'threads'}.
    </p>
    <table>
      <thead>
        <tr>
          <th scope="col">actor</th>
          <th scope="col">thread</th>
          <th scope="col">state</th>
          <th scope="col" class="num">mailbox</th>
          <th scope="col" class="num">processed</th>
          <th scope="col" class="num">dropped</th>
          <th scope="col" class="num">restarts</th>
          <th scope="col" class="num">latency p50</th>
          <th scope="col" class="num">p99</th>
          <th scope="col" class="num">p99.9</th>
        </tr>
      </thead>
      <tbody>
        ${stats.map(
          (s) =>
            html`<tr data-actor="${s.name}">
              <th scope="row">${s.name}</th>
              <td>${s.thread}</td>
              <td><span class="status status-${s.state}">${s.state}</span></td>
              <td class="num">${s.mailboxDepth}</td>
              <td class="num">${s.processed}</td>
              <td class="num">${s.dropped}</td>
              <td class="num">${s.restarts}</td>
              <td class="num">${micros(s.latencyUs.p50)}</td>
              <td class="num">${micros(s.latencyUs.p99)}</td>
              <td class="num">${micros(s.latencyUs.p999)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <p class="muted">Latency: time spent in <code>receive</code>, sampled. Refreshes every 2 seconds.</p>`
}

async function page(req: PageRequest): Promise<PageResult> {
  const { runtime } = req.deps
  if (runtime === undefined)
    return {
      title: 'Runtime',
      body: html`<h1>Runtime</h1>
        ${noRuntime()}`,
    }
  const body = html`<h1>Runtime</h1>
    <div data-live="${req.prefix}/live/runtime">${await actorsFragment(runtime)}</div>`
  return { title: 'Runtime', body }
}

async function live(req: PageRequest): Promise<void> {
  const { runtime } = req.deps
  await serveLive(req, async () => (runtime === undefined ? noRuntime() : actorsFragment(runtime)))
}

export const RUNTIME_ROUTES: readonly PageRoute[] = [
  { method: 'GET', path: '/runtime', section: '/runtime', handler: page },
  { method: 'GET', path: '/live/runtime', section: '/runtime', handler: live, live: true },
]
