/**
 * Sinks across threads and processes: the keep-alive and the held events come from the sink-reader
 * actor, so a handler blocking its event loop keeps its events; a killed process's events go to another
 * instance. And a Redis restart under a reader and a sink (nothing lost).
 */
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

import { type SinkEvent, Stream } from '../../../actors/streaming/index.js'
import { LocalRedis } from '../../../cli/local-servers/redis-server.js'
import { spawnTs } from '../../helpers/child.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { eventually, Opened, take } from './helpers.js'

const kSinkProcess = new URL('../../fixtures/streaming/sink-process.ts', import.meta.url).pathname

const raw = useRawRedis()
let opened: Opened
afterEach(async () => {
  await opened.close(raw)
})

function blockEventLoop(ms: number): void {
  const end = Date.now() + ms
  while (Date.now() < end) {
    // a CPU-bound handler
  }
}

describe('sink instances across threads and processes', () => {
  it('a handler that blocks its event loop for 10 × the grace period keeps its events from another process', async () => {
    opened = new Opened()
    const s = opened.add(new Stream(redisUrl(), opened.name('s')))
    const name = opened.name('k')
    const timing = { ackGracePeriodMs: 300, idleCheckMs: 20 }
    const busy = opened.add(await s.newSink(name, { blockMs: 100, ...timing }))
    const busySub = busy.subscribe()
    const ids = await s.addMany([
      { name: 'in-hand', payload: '' },
      { name: 'in-buffer', payload: '' },
    ])
    const [inHand] = await take(busySub, 1)
    // Another instance starts in another process while this one's thread is blocked: it runs idle checks.
    const child = spawnTs(kSinkProcess, [JSON.stringify({ url: redisUrl(), stream: s.name, sink: name, ...timing })])
    blockEventLoop(10 * timing.ackGracePeriodMs) // the handler of `in-hand`
    await busy.ack(inHand as SinkEvent)
    const readyAt = Number((await child.waitForLine(/^ready /)).split(' ')[2])
    if (readyAt > Date.now() - 2 * timing.ackGracePeriodMs) {
      // The other process came up late: block again (`in-buffer` waits), now that it runs idle checks for sure.
      blockEventLoop(10 * timing.ackGracePeriodMs)
    }
    const [inBuffer] = await take(busySub, 1)
    expect([inHand?.eventName, inBuffer?.eventName]).toEqual(['in-hand', 'in-buffer'])
    expect([inHand?.deliveryCount, inBuffer?.deliveryCount]).toEqual([1, 1])
    await busy.ack(inBuffer as SinkEvent)
    const stats = await busy.stats()
    expect(stats.claimed).toBe(0)
    expect(stats.extended).toBeGreaterThan(0)
    expect(child.lines.filter((line) => ids.some((id) => line.startsWith(`got ${id}`)))).toEqual([])
    child.process.kill('SIGKILL')
    await child.exited
  })

  it('two instances of a sink in two processes split the events, disjoint, union = all', async () => {
    opened = new Opened()
    const s = opened.add(new Stream(redisUrl(), opened.name('s')))
    const args = JSON.stringify({
      url: redisUrl(),
      stream: s.name,
      sink: opened.name('k'),
      ackGracePeriodMs: 5_000,
      idleCheckMs: 100,
      ack: true,
    })
    const children = [spawnTs(kSinkProcess, [args]), spawnTs(kSinkProcess, [args])]
    await Promise.all(children.map((child) => child.waitForLine(/^ready /)))
    const ids: string[] = []
    for (let i = 0; i < 10; i++)
      ids.push(...(await s.addMany(Array.from({ length: 20 }, (_, j) => ({ name: String(i * 20 + j), payload: '' })))))
    await Promise.all(
      ids.map((id) => Promise.race(children.map((child) => child.waitForLine(new RegExp(`^got ${id} 1$`))))),
    )
    const got = children.map((child) =>
      child.lines.filter((line) => line.startsWith('got ')).map((line) => line.split(' ')[1]),
    )
    expect([...(got[0] ?? []), ...(got[1] ?? [])].sort()).toEqual([...ids].sort())
    for (const child of children) child.process.kill('SIGKILL')
    await Promise.all(children.map((child) => child.exited))
  })

  it('a process killed while it holds events: another instance gets them (deliveryCount 2); the dead consumer goes', async () => {
    opened = new Opened()
    const s = opened.add(new Stream(redisUrl(), opened.name('s')))
    const name = opened.name('k')
    const timing = { ackGracePeriodMs: 300, idleCheckMs: 50 }
    const child = spawnTs(kSinkProcess, [JSON.stringify({ url: redisUrl(), stream: s.name, sink: name, ...timing })])
    const ready = await child.waitForLine(/^ready /)
    const dead = ready.split(' ')[1]
    const ids = await s.addMany(Array.from({ length: 5 }, (_, i) => ({ name: String(i), payload: '' })))
    for (const id of ids) await child.waitForLine(new RegExp(`^got ${id} 1$`))
    child.process.kill('SIGKILL')
    await child.exited
    const survivor = opened.add(await s.newSink(name, { blockMs: 100, ...timing }))
    const got = await take(survivor.subscribe(), 5, 10_000)
    expect(got.map((e) => e.id).sort()).toEqual([...ids].sort())
    expect(got.every((e) => e.deliveryCount === 2)).toBe(true)
    await survivor.ackMany(got)
    await eventually(
      async () => !((await raw.xinfo('CONSUMERS', s.key, name)) as unknown[][]).some((row) => row.includes(dead)),
      10_000,
      'the dead consumer to be removed',
    )
  })
})

describe('a Redis restart', () => {
  let server: LocalRedis

  beforeAll(async () => {
    server = await LocalRedis.start({ persist: true })
  })
  afterAll(async () => {
    await server.close()
  })

  it('a reader and a sink resume from their cursors: nothing lost, nothing twice', async () => {
    opened = new Opened()
    const local = new Redis(server.url, { maxRetriesPerRequest: 1 })
    local.on('error', () => undefined)
    try {
      const s = opened.add(new Stream(server.url, opened.name('s')))
      const reader = opened.add(await s.newReader({ blockMs: 100 }))
      const sink = opened.add(await s.newSink(opened.name('k'), { blockMs: 100, ackGracePeriodMs: 5_000 }))
      const [rSub, kSub] = [reader.subscribe(), sink.subscribe()]
      await s.addMany(Array.from({ length: 10 }, (_, i) => ({ name: `before-${i}`, payload: '' })))
      const r1 = await take(rSub, 10)
      const k1 = await take(kSub, 10)
      await sink.ackMany(k1)
      await server.stop()
      await server.start()
      await eventually(async () => (await local.ping().catch(() => 'down')) === 'PONG', 10_000, 'the server to be back')
      // The add is the probe: it fails while the stream's client reconnects, and happens once it is back.
      await eventually(
        () =>
          s.addMany(Array.from({ length: 10 }, (_, i) => ({ name: `after-${i}`, payload: '' }))).then(
            () => true,
            () => false,
          ),
        10_000,
        'the stream to take the events after the restart',
      )
      const r2 = await take(rSub, 10, 15_000)
      const k2 = await take(kSub, 10, 15_000)
      await sink.ackMany(k2)
      const expected = [
        ...Array.from({ length: 10 }, (_, i) => `before-${i}`),
        ...Array.from({ length: 10 }, (_, i) => `after-${i}`),
      ]
      expect([...r1, ...r2].map((e) => e.eventName)).toEqual(expected)
      expect([...k1, ...k2].map((e) => e.eventName)).toEqual(expected)
    } finally {
      await opened.close(local)
      local.disconnect()
    }
  })
})
