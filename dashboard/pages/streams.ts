/**
 * Streams (`/streams`): the streams in Redis (`pulse:stream:*`, found by SCAN) with their length and
 * sinks; `/streams/:name`: one stream's info (`Stream.info()`: sinks with pending counts and consumers)
 * and its newest events, refreshed every second over SSE (`/live/streams/:name`). Payloads are shown as
 * UTF-8 text when they are, else as base64, escaped and cut at 500 characters; at most 50 events.
 */
import type { Redis } from 'ioredis'

import { Stream, type StreamInfo } from '../../actors/streaming/index.js'
import { decodeEntry, entryTimeMs } from '../../transports/redis/streaming/entry.js'
import { streamKey } from '../../transports/redis/streaming/keys.js'
import { formatTime, noRedis, truncate } from '../format.js'
import { html, type SafeHtml } from '../html.js'
import { serveLive } from '../live.js'
import type { PageRequest, PageResult, PageRoute } from '../page.js'
import { between, scanNames } from '../redis-scan.js'
import { listTable, redisDetailPage, redisListPage } from './redis-page.js'

const kTail = 50
const kPayloadChars = 500
const kTailIntervalMs = 1_000
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** The stream's info, or `undefined` when it does not exist (or its name is not a stream name). */
async function infoOf(client: Redis, name: string): Promise<StreamInfo | undefined> {
  let stream: Stream
  try {
    stream = new Stream(client, name)
  } catch {
    return undefined
  }
  try {
    return await stream.info()
  } finally {
    await stream.close()
  }
}

function payloadText(payload: Buffer): string {
  try {
    return truncate(utf8.decode(payload), kPayloadChars)
  } catch {
    return truncate(`base64:${payload.toString('base64')}`, kPayloadChars)
  }
}

async function tail(client: Redis, name: string): Promise<SafeHtml> {
  const rows = (await client.xrevrangeBuffer(streamKey(name), '+', '-', 'COUNT', kTail)) as [Buffer, Buffer[]][]
  const events = rows.flatMap(([id, fields]) => {
    const entry = decodeEntry(id.toString('utf8'), fields)
    return entry === undefined ? [] : [entry]
  })
  if (events.length === 0) return html`<p>No events.</p>`
  return html`<table>
    <caption class="sr-only">
      The newest ${events.length} events, newest first
    </caption>
    <thead>
      <tr>
        <th scope="col">id</th>
        <th scope="col">added</th>
        <th scope="col">event</th>
        <th scope="col">topic</th>
        <th scope="col">payload</th>
      </tr>
    </thead>
    <tbody>
      ${events.map(
        (e) =>
          html`<tr data-event-id="${e.id}">
            <td>${e.id}</td>
            <td>${formatTime(new Date(entryTimeMs(e.id)))}</td>
            <td>${e.name}</td>
            <td>${e.topic ?? ''}</td>
            <td><code class="payload">${payloadText(e.payload)}</code></td>
          </tr>`,
      )}
    </tbody>
  </table>`
}

function sinksTable(info: StreamInfo): SafeHtml {
  if (info.sinks.length === 0) return html`<p>No sinks (consumer groups).</p>`
  return html`<table>
    <thead>
      <tr>
        <th scope="col">sink</th>
        <th scope="col" class="num">pending</th>
        <th scope="col" class="num">lag</th>
        <th scope="col">last delivered</th>
        <th scope="col">consumers</th>
      </tr>
    </thead>
    <tbody>
      ${info.sinks.map(
        (sink) =>
          html`<tr data-sink="${sink.name}">
            <th scope="row">${sink.name}</th>
            <td class="num" data-pending>${sink.pending}</td>
            <td class="num">${sink.lag ?? '?'}</td>
            <td>${sink.lastDeliveredId}</td>
            <td>
              ${
                sink.consumers.length === 0
                  ? 'none'
                  : sink.consumers.map(
                      (c) => html`<div>${c.name}: ${c.pending} pending, idle ${(c.idleMs / 1000).toFixed(1)} s</div>`,
                    )
              }
            </td>
          </tr>`,
      )}
    </tbody>
  </table>`
}

async function detailFragment(client: Redis, name: string): Promise<SafeHtml> {
  const info = await infoOf(client, name)
  if (info === undefined) return html`<p class="warning" role="status">The stream no longer exists.</p>`
  return html`<p>
      ${info.length} ${info.length === 1 ? 'event' : 'events'}, from ${info.firstId ?? '—'} to ${info.lastId ?? '—'}.
    </p>
    <h2>Sinks</h2>
    ${sinksTable(info)}
    <h2>Newest events</h2>
    ${await tail(client, name)}`
}

const kStreamColumns = [
  { label: 'stream' },
  { label: 'events', num: true },
  { label: 'sinks', num: true },
  { label: 'pending', num: true },
  { label: 'consumers', num: true },
]

function list(req: PageRequest): Promise<PageResult> {
  return redisListPage(req, 'Streams', async (client) => {
    const found = await scanNames(client, 'pulse:stream:*', (key) => between(key, 'pulse:stream:', ''), {
      type: 'stream',
      limit: 200,
    })
    const infos = (await Promise.all(found.names.map((name) => infoOf(client, name)))).filter(
      (info): info is StreamInfo => info !== undefined,
    )
    const rows = infos.map(
      (info) =>
        html`<tr data-stream="${info.name}">
          <th scope="row"><a href="${req.prefix}/streams/${encodeURIComponent(info.name)}">${info.name}</a></th>
          <td class="num">${info.length}</td>
          <td class="num">${info.sinks.length}</td>
          <td class="num">${info.sinks.reduce((n, s) => n + s.pending, 0)}</td>
          <td class="num">${info.sinks.reduce((n, s) => n + s.consumers.length, 0)}</td>
        </tr>`,
    )
    return listTable(kStreamColumns, rows, 'No streams in this Redis.', found.truncated)
  })
}

function detail(req: PageRequest): Promise<PageResult> {
  return redisDetailPage(req, {
    kind: 'Stream',
    section: 'streams',
    first: async (client, name) =>
      (await infoOf(client, name)) === undefined ? undefined : detailFragment(client, name),
  })
}

async function liveDetail(req: PageRequest): Promise<void> {
  const name = req.ctx.params.name ?? ''
  const client = req.deps.redis?.client
  await serveLive(req, async () => (client === undefined ? noRedis() : detailFragment(client, name)), kTailIntervalMs)
}

export const STREAM_ROUTES: readonly PageRoute[] = [
  { method: 'GET', path: '/streams', section: '/streams', handler: list },
  { method: 'GET', path: '/streams/:name', section: '/streams', handler: detail },
  { method: 'GET', path: '/live/streams/:name', section: '/streams', handler: liveDetail, live: true },
]
