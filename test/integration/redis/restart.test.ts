/**
 * Server outages, on a private redis-server (stopping the shared one would disturb other files).
 */
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { LocalRedis } from '../../../cli/local-servers/redis-server.js'
import { ClosedError, RedisConnectionError } from '../../../runtime/errors.js'
import { createRedis } from '../../../transports/redis/index.js'
import { nextEvent, timed, within } from './wait.js'

let server: LocalRedis

beforeAll(async () => {
  server = await LocalRedis.start()
})

afterAll(async () => {
  await server.close()
})

/** Resolves once `client` is ready (now or on its next 'ready' event), within `ms`. */
function untilReady(client: Redis, ms: number): Promise<void> {
  return client.status === 'ready' ? Promise.resolve() : nextEvent(client, 'ready', ms)
}

describe('a server restart', () => {
  it('fails pending and new commands fast with RedisConnectionError, then the same client works again', async () => {
    const redis = createRedis(server.url)
    try {
      const { client } = redis
      const blocking = redis.blocking()
      await Promise.all([client.set('k', 'v'), blocking.ping()])
      const pendingRead = blocking.blpop('list', 0).catch((e: unknown) => e)

      await server.stop()

      // The read pending when the server went away fails within a bound, typed.
      expect(await within(pendingRead, 5_000, 'the pending BLPOP to fail')).toBeInstanceOf(RedisConnectionError)
      // So does a command issued while it is down: no hang.
      const down = await timed(() => client.get('k'))
      expect(down.result.status).toBe('rejected')
      expect((down.result as PromiseRejectedResult).reason).toBeInstanceOf(RedisConnectionError)
      expect(down.ms).toBeLessThan(5_000)
      // And once the outage is known, at once.
      const known = await timed(() => client.get('k'))
      expect((known.result as PromiseRejectedResult).reason).toBeInstanceOf(RedisConnectionError)
      expect(known.ms).toBeLessThan(100)

      await server.start()
      await Promise.all([untilReady(client, 10_000), untilReady(blocking, 10_000)])

      // The same clients, not recreated.
      expect(redis.client).toBe(client)
      expect(redis.blocking()).toBe(blocking)
      expect(await client.set('k', 'again')).toBe('OK')
      const popped = blocking.blpop('list', 5)
      await client.rpush('list', 'item')
      expect(await within(popped, 5_000, 'BLPOP after the restart')).toEqual(['list', 'item'])
    } finally {
      await redis.close()
    }
  })

  it('lets a command issued during a short blip through (offline queue)', async () => {
    // Slow first reconnects: three failed attempts (the point where queued commands fail) take >= 1.75 s,
    // which leaves the server time to come back.
    const redis = createRedis(server.url, { reconnectMinDelayMs: 500, reconnectMaxDelayMs: 2_000 })
    try {
      await redis.client.ping()
      await server.stop()
      const queued = redis.client.set('blip', '1')
      await server.start()
      expect(await within(queued, 10_000, 'the queued SET')).toBe('OK')
      expect(await redis.client.get('blip')).toBe('1')
    } finally {
      await redis.close()
    }
  })

  it('closes quickly while the server is down, settling queued commands and leaving nothing open', async () => {
    await server.stop()
    try {
      const redis = createRedis(server.url, { reconnectMinDelayMs: 1_000 })
      const blocking = redis.blocking()
      const queued = redis.client.get('k').catch((e: unknown) => e)
      const read = blocking.blpop('list', 0).catch((e: unknown) => e)
      // Wait until both have failed once and wait to reconnect: the state where ioredis' disconnect()
      // alone would strand them.
      await Promise.all([nextEvent(redis.client, 'reconnecting', 5_000), nextEvent(blocking, 'reconnecting', 5_000)])
      const closing = await timed(() => redis.close())
      expect(closing.result.status).toBe('fulfilled')
      expect(closing.ms).toBeLessThan(500)
      expect(redis.client.status).toBe('end')
      expect(blocking.status).toBe('end')
      expect(await queued).toBeInstanceOf(ClosedError)
      expect(await read).toBeInstanceOf(ClosedError)
    } finally {
      await server.start()
    }
  })
})
