/**
 * The runtime as the composition root (actors/runtime/runtime.ts), on the run's real Redis and
 * PostgreSQL: each accessor works and runs its actors on the runtime's threads, the same name gives the
 * same object, close goes in reverse order of creation, and an abort signal rejects or closes.
 */
import { randomUUID } from 'node:crypto'

import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

import { Runtime } from '../../../actors/runtime/index.js'
import { ClosedError, InvalidArgumentError } from '../../../runtime/errors.js'
import { liveResources } from '../../../runtime/resource-tracker.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { redisUrl } from '../../helpers/servers.js'
import { recorder, until } from '../pool/helpers.js'

let db: TestDatabase
let rt: Runtime | undefined

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db.drop()
})

afterEach(async () => {
  await rt?.close()
  rt = undefined
})

const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`

async function actorNames(runtime: Runtime): Promise<string[]> {
  return (await runtime.stats()).filter((s) => s.state === 'running').map((s) => s.name)
}

describe('Runtime.start({ redis, postgres })', () => {
  it('runs jobs with the dispatcher, watchdog and scheduler on its own threads', async () => {
    rt = await Runtime.start({ redis: redisUrl(), postgres: db.url, jobs: { schema: 'rt_jobs' } })
    const done = new Promise<unknown>((resolve) => rt?.jobs.register('echo', (args) => resolve(args)))
    await rt.jobs.start({ concurrency: 2 })
    await rt.jobs.enqueue('echo', { hello: 'world' })
    expect(await done).toEqual({ hello: 'world' })
    const names = await actorNames(rt)
    for (const role of ['dispatcher', 'watchdog', 'scheduler'])
      expect(names.some((n) => n.startsWith('pulse-jobs:rt_jobs:') && n.endsWith(`:${role}`))).toBe(true)
    const { jobs } = (await rt.stats()).features
    expect([jobs?.held, jobs?.running]).toEqual([0, 0])
  })

  it('gives one replicated map per name, served by its replica actor', async () => {
    rt = await Runtime.start({ redis: redisUrl() })
    const name = unique('rt-map')
    const [first, again] = await Promise.all([rt.map(name), rt.map(name)])
    expect(again).toBe(first)
    await first.setAndWait('k', 'v')
    expect((await rt.map(name)).get('k')).toBe('v')
    expect(await actorNames(rt)).toContain(`rmap:${name}`)
    const stats = (await rt.stats()).features.maps[name]
    expect(stats?.size).toBe(1)
    expect(stats?.revision).toBeGreaterThan(0)
    await first.destroy()
  })

  it('gives one stream per name whose sinks read on the runtime threads', async () => {
    rt = await Runtime.start({ redis: redisUrl() })
    const name = unique('rt-stream')
    const stream = rt.stream(name)
    expect(rt.stream(name)).toBe(stream)
    const sink = await stream.newSink('audit', { start: 'oldest' })
    await stream.add('created', 'payload-1')
    const events = sink.subscribe()
    const first = await events.next()
    expect(first.done).toBe(false)
    if (first.done !== true) {
      expect(first.value.payload.toString()).toBe('payload-1')
      await sink.ack(first.value)
    }
    expect((await actorNames(rt)).some((n) => n.startsWith('sink:'))).toBe(true)
    expect((await rt.stats()).features.streams).toEqual([name])
    await sink.close()
    await stream.destroy()
  })

  it('gives one pool node per name whose watchdog runs on the runtime threads', async () => {
    rt = await Runtime.start({ redis: redisUrl() })
    const name = unique('rtpool')
    const node = await rt.pool(name)
    expect(await rt.pool(name)).toBe(node)
    const handler = recorder()
    await node.addWorker(handler)
    await node.dispatchJob('job-1', 'p')
    await until(() => handler.running.has('job-1'), 5_000, 'the job to start')
    expect((await actorNames(rt)).some((n) => n.startsWith('pool-watchdog:'))).toBe(true)
    expect((await rt.stats()).features.pools[name]).toEqual({ workers: 1, jobs: 1 })
    await node.shutdown()
  })

  it('gives one bus, and serves it over HTTP', async () => {
    rt = await Runtime.start({ redis: redisUrl() })
    const ns = unique('rtbus').replace('-', '')
    const bus = await rt.bus({ namespaces: [ns], keyPrefix: `${ns}:` })
    expect(await rt.bus()).toBe(bus)
    const server = await rt.busServer({ port: 0 })
    const sub = bus.get(`${ns}.>`, { start: 'oldest' })
    const response = await fetch(`${server.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subject: `${ns}.created`, payload: { n: 1 } }),
    })
    expect(response.status).toBeLessThan(300)
    const event = await sub.next()
    expect(event.done).toBe(false)
    if (event.done !== true) expect(event.value.subject).toBe(`${ns}.created`)
    await sub.return()
    expect((await rt.stats()).features.bus).toBe(true)
  })
})

describe('Runtime: what it refuses', () => {
  it('throws PULSE_ERR_INVALID_ARG naming the missing server', async () => {
    rt = await Runtime.start()
    expect(() => rt?.jobs).toThrow(
      expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG', data: { option: 'postgres' } }),
    )
    expect(() => rt?.stream('s')).toThrow(expect.objectContaining({ data: { option: 'redis' } }))
    expect(() => rt?.map('m')).toThrow(InvalidArgumentError)
    await expect(Runtime.start({ redis: 42 as unknown as string })).rejects.toThrow(/options.redis/)
    await expect(Runtime.start({ postgres: {} as unknown as string })).rejects.toThrow(/options.postgres/)
    await expect(Runtime.start({ nope: 1 } as unknown as object)).rejects.toThrow(InvalidArgumentError)
  })

  it('asks for namespaces on the first bus call', async () => {
    rt = await Runtime.start({ redis: redisUrl() })
    expect(() => rt?.bus()).toThrow(expect.objectContaining({ data: { option: 'options.namespaces' } }))
  })

  it('rejects when PostgreSQL cannot be reached, and leaves no thread behind', async () => {
    const before = liveResources().length
    const start = Runtime.start({ postgres: 'postgres://postgres@127.0.0.1:1/none' })
    await expect(start).rejects.toMatchObject({ code: 'PULSE_ERR_PG_CONNECTION' })
    expect(liveResources()).toHaveLength(before)
  })
})

describe('Runtime: close and abort', () => {
  it('closes features in reverse order of creation, then refuses new ones', async () => {
    rt = await Runtime.start({ redis: redisUrl(), postgres: db.url, jobs: { schema: 'rt_close' } })
    const order: string[] = []
    const watch = <T extends { close(): Promise<void> }>(label: string, feature: T): T => {
      const close = feature.close.bind(feature)
      feature.close = async () => {
        order.push(label)
        await close()
      }
      return feature
    }
    watch('jobs', rt.jobs)
    const map = watch('map', await rt.map(unique('rt-close')))
    const stream = watch('stream', rt.stream(unique('rt-close')))
    const node = watch('pool', await rt.pool(unique('rtclose')))
    await rt.close()
    expect(order).toEqual(['pool', 'stream', 'map', 'jobs'])
    expect(map.closed).toBe(true)
    expect(node.closed).toBe(true)
    await expect(stream.add('x', 'y')).rejects.toThrow(ClosedError)
    expect(() => rt?.map('again')).toThrow(ClosedError)
    rt = undefined
  })

  it("shares the caller's Redis client and pg.Pool, and leaves them open", async () => {
    const client = new Redis(redisUrl())
    const pool = new pg.Pool({ connectionString: db.url, max: 2 })
    try {
      const runtime = await Runtime.start({ redis: client, postgres: pool, jobs: { schema: 'rt_shared' } })
      const stream = runtime.stream(unique('rt-shared'))
      await stream.add('e', 'p')
      await runtime.jobs.enqueue('x', {})
      await runtime.close()
      expect(await client.ping()).toBe('PONG')
      expect((await pool.query<{ n: string }>('SELECT count(*) AS n FROM rt_shared.jobs')).rows[0]?.n).toBe('1')
    } finally {
      client.disconnect()
      await pool.end()
    }
  })

  it('rejects with the reason of an already-aborted signal', async () => {
    const reason = new Error('stopped before start')
    await expect(Runtime.start({ redis: redisUrl(), signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
  })

  it('closes every feature when its signal aborts later', async () => {
    const controller = new AbortController()
    rt = await Runtime.start({ redis: redisUrl(), signal: controller.signal })
    const map = await rt.map(unique('rt-abort'))
    controller.abort()
    expect(await rt.closed).toBeUndefined()
    expect(map.closed).toBe(true)
    rt = undefined
  })
})
