// The dashboard's Redis pages over HTTP against the built `pulse server` on the run's redis-server:
// streams (a sink's pending, the live tail), pools (a node and its worker), replicated maps (values
// escaped, the live fragment after a set), the runtime page without a runtime, the overview without a
// database.
import { randomUUID } from 'node:crypto'

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

import { PoolNode } from '../../../actors/pool/index.js'
import { ReplicatedMap } from '../../../actors/rmap/index.js'
import { Stream } from '../../../actors/streaming/index.js'
import { deleteByPrefix, useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { kFast, recorder } from '../pool/helpers.js'
import { type RunningServer, startServer } from '../server/helpers.js'
import { take } from '../streaming/helpers.js'
import { getPage, liveEvents } from './helpers.js'

const raw = useRawRedis()
const tag = `dash${randomUUID().slice(0, 8)}`
let server: RunningServer
const opened: { close(): Promise<void> }[] = []

beforeAll(async () => {
  server = await startServer({ REDIS_URL: redisUrl() })
})

afterAll(async () => {
  expect(await server?.stop()).toBe(0)
})

afterEach(async () => {
  for (const closable of opened.splice(0).reverse()) await closable.close()
  for (const prefix of [`pulse:stream:${tag}`, `map:${tag}`, `map:stream:${tag}`, `map:sink:${tag}`, `sink:${tag}`])
    await deleteByPrefix(raw, prefix)
})

function track<T extends { close(): Promise<void> }>(closable: T): T {
  opened.push(closable)
  return closable
}

describe('streams', () => {
  it('lists a stream with its sink’s pending events, and shows its info and newest events', async () => {
    const stream = track(new Stream(redisUrl(), `${tag}-orders`))
    await stream.addMany([
      { name: 'created', payload: '{"id":1}' },
      { name: 'paid', payload: '<script>alert(1)</script>', topic: 'eu' },
    ])
    const sink = track(await stream.newSink(`${tag}-billing`, { start: 'oldest', ackGracePeriodMs: 60_000 }))
    await take(sink.subscribe(), 2)

    const list = await getPage(server.url, '/streams')
    expect(list.status).toBe(200)
    const row = new RegExp(`<tr data-stream="${stream.name}">([\\s\\S]*?)</tr>`).exec(list.html)?.[1] ?? ''
    expect(row.match(/<td class="num">(\d+)<\/td>/g)).toEqual([
      '<td class="num">2</td>', // events
      '<td class="num">1</td>', // sinks
      '<td class="num">2</td>', // pending
      '<td class="num">1</td>', // consumers
    ])

    const detail = await getPage(server.url, `/streams/${encodeURIComponent(stream.name)}`)
    expect(detail.status).toBe(200)
    expect(detail.html).toMatch(new RegExp(`<tr data-sink="${sink.name}">[\\s\\S]*?data-pending>2<`))
    expect(detail.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(detail.html).not.toContain('<script>alert(1)')
    expect(detail.html).toContain(`data-live="/ui/live/streams/${encodeURIComponent(stream.name)}"`)
    expect((await getPage(server.url, `/streams/${tag}-none`)).status).toBe(404)
  })

  it('tails the stream live: an event added is sent', async () => {
    const stream = track(new Stream(redisUrl(), `${tag}-tail`))
    await stream.add('first', 'one')
    const events = await liveEvents(
      server.url,
      `/live/streams/${encodeURIComponent(stream.name)}`,
      (data) => data.includes('&lt;i&gt;second&lt;/i&gt;'),
      () => stream.add('second', '<i>second</i>'),
    )
    expect(events[0]).toContain('one')
    expect(events[0]).not.toContain('second')
    expect(events.at(-1)).toMatch(/<td>second<\/td>/)
  })
})

describe('pools', () => {
  it('lists a pool with a node, and shows its node and worker', async () => {
    const name = `${tag}-pool`
    const node = await PoolNode.join(redisUrl(), name, kFast)
    const worker = await node.addWorker(recorder())
    try {
      const list = await getPage(server.url, '/pools')
      expect(list.html).toContain(`<tr data-pool="${name}">`)
      const detail = await getPage(server.url, `/pools/${encodeURIComponent(name)}`)
      expect(detail.status).toBe(200)
      expect(detail.html).toContain(`<tr data-node="${node.id}">`)
      expect(detail.html).toMatch(new RegExp(`<tr data-worker="${worker.id}">[\\s\\S]*?>active<`))
      expect(detail.html).toContain(`data-live="/ui/live/pools/${encodeURIComponent(name)}"`)
    } finally {
      // The pool's keys go with the test's prefix; its worker stream is named after the worker only.
      await node.close()
      await raw.del(`pulse:stream:worker:${worker.id}`)
    }
  })
})

describe('maps', () => {
  it('lists a map and shows its keys and values escaped, then live after a set', async () => {
    const map = track(await ReplicatedMap.join(redisUrl(), `${tag}-config`))
    await map.set('greeting', '<b>x</b>')
    const list = await getPage(server.url, '/maps')
    expect(list.html).toMatch(new RegExp(`<tr data-map="${map.name}">[\\s\\S]*?<td class="num">1</td>`))
    const detail = await getPage(server.url, `/maps/${encodeURIComponent(map.name)}`)
    expect(detail.status).toBe(200)
    expect(detail.html).toContain('&lt;b&gt;x&lt;/b&gt;')
    expect(detail.html).not.toContain('<b>x</b>')

    const events = await liveEvents(
      server.url,
      `/live/maps/${encodeURIComponent(map.name)}`,
      (data) => data.includes('data-key="colour"'),
      () => map.set('colour', '<i>red</i>'),
    )
    expect(events[0]).toContain('data-key="greeting"')
    expect(events.at(-1)).toContain('&lt;i&gt;red&lt;/i&gt;')
    expect(events.at(-1)).not.toContain('<i>red</i>')
  })
})

describe('pages without their dependency', () => {
  it('says the server runs no runtime, and the overview that there is no job queue', async () => {
    const runtime = await getPage(server.url, '/runtime')
    expect(runtime.status).toBe(200)
    expect(runtime.html).toContain('This server process runs no actor runtime')
    const overview = await getPage(server.url, '/')
    expect(overview.html).toContain('No job queue')
    expect(overview.html).toContain('DATABASE_URL')
  })
})
