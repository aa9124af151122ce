import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import {
  ClosedError,
  CloseTimeoutError,
  InvalidArgumentError,
  RedisCommandError,
  RedisConnectionError,
} from '../../../runtime/errors.js'
import { liveResources } from '../../../runtime/resource-tracker.js'
import { createRedis, PulseRedis, reconnectDelayMs } from '../../../transports/redis/index.js'
import { deleteByPrefix, testPrefix } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { timed, within } from './wait.js'

/** A plain ioredis client for setup and cleanup, outside the code under test. */
let admin: Redis
const prefix = testPrefix()

beforeAll(async () => {
  admin = new Redis(redisUrl())
  await admin.ping()
})

afterAll(async () => {
  await deleteByPrefix(admin, prefix)
  await admin.quit()
})

describe('createRedis from a URL', () => {
  it('creates, tracks and, on close, quits its client', async () => {
    const redis = createRedis(redisUrl(), { name: 'conn-test' })
    expect(redis).toBeInstanceOf(PulseRedis)
    expect(redis.ownsClient).toBe(true)
    expect(liveResources().some((r) => r.kind === 'redis' && r.label.startsWith('conn-test '))).toBe(true)
    await redis.client.set(`${prefix}url`, 'v')
    expect(await redis.client.get(`${prefix}url`)).toBe('v')
    expect(await redis.client.client('GETNAME')).toBe('conn-test')
    await redis.close()
    expect(redis.client.status).toBe('end')
    expect(redis.state).toBe('closed')
    expect(await redis.closed).toBeUndefined()
    expect(liveResources().some((r) => r.label.startsWith('conn-test '))).toBe(false)
  })

  it('supports await using', async () => {
    let client: Redis | undefined
    {
      await using redis = createRedis(redisUrl())
      client = redis.client
      expect(await client.ping()).toBe('PONG')
    }
    expect(client.status).toBe('end')
  })

  it('validates its source and options, naming the culprit', async () => {
    expect(() => createRedis('http://127.0.0.1:6379')).toThrow(InvalidArgumentError)
    expect(() => createRedis('http://user:secret@127.0.0.1')).toThrow(
      /^source must be a redis:\/\/, rediss:\/\/ or redis-cluster:\/\/ URL, or a unix socket path$/,
    )
    expect(() => createRedis(42 as unknown as string)).toThrow(/source must be/)
    expect(() => createRedis(redisUrl(), { connectTimeoutMs: -1 })).toThrow(/options\.connectTimeoutMs/)
    expect(() => createRedis(redisUrl(), { reconnectMinDelayMs: 5000, reconnectMaxDelayMs: 100 })).toThrow(
      /reconnectMinDelayMs/,
    )
    expect(() => createRedis(redisUrl(), { nmae: 'x' } as never)).toThrow(/options\.nmae is not a known option/)
    const foreign = new Redis(redisUrl(), { lazyConnect: true })
    try {
      expect(() => createRedis(foreign, { maxRetriesPerRequest: 1 })).toThrow(
        /options\.maxRetriesPerRequest applies only to a URL/,
      )
    } finally {
      foreign.disconnect()
    }
    // A rejected construction opens nothing (the leak check would say so).
    await Promise.resolve()
  })
})

describe('createRedis from a client', () => {
  it('wraps without owning: close leaves the client open, and the owner sees plain ioredis', async () => {
    const foreign = new Redis(redisUrl())
    try {
      const redis = createRedis(foreign)
      expect(redis.ownsClient).toBe(false)
      expect(redis.client).toBeInstanceOf(Redis)
      await redis.client.set(`${prefix}foreign`, 'x')
      // Typed through the wrapper…
      const typed = await redis.client.lpush(`${prefix}foreign`, 'a').catch((e: unknown) => e)
      expect(typed).toBeInstanceOf(RedisCommandError)
      // …untouched for the owner.
      const raw = await foreign.lpush(`${prefix}foreign`, 'a').catch((e: unknown) => e)
      expect((raw as Error).name).toBe('ReplyError')
      expect(foreign.listenerCount('error')).toBe(0)

      await redis.close()
      expect(foreign.status).toBe('ready')
      expect(await foreign.get(`${prefix}foreign`)).toBe('x')
      await expect(redis.client.get(`${prefix}foreign`)).rejects.toBeInstanceOf(ClosedError)
    } finally {
      await foreign.quit()
    }
  })

  it('maps pipelines and transactions through the wrapper', async () => {
    const foreign = new Redis(redisUrl())
    const redis = createRedis(foreign)
    try {
      const key = `${prefix}foreign-pipe`
      await redis.client.set(key, 's')
      const results = await redis.client.pipeline().get(key).lpush(key, 'a').exec()
      expect(results?.[0]).toEqual([null, 's'])
      expect(results?.[1]?.[0]).toBeInstanceOf(RedisCommandError)
    } finally {
      await redis.close()
      await foreign.quit()
    }
  })

  it('gives a blocking connection of its own, closed with the wrapper', async () => {
    const foreign = new Redis(redisUrl())
    const redis = createRedis(foreign)
    try {
      const blocking = redis.blocking()
      expect(blocking).not.toBe(foreign)
      expect(await blocking.ping()).toBe('PONG')
      await redis.close()
      expect(blocking.status).toBe('end')
      expect(foreign.status).toBe('ready')
    } finally {
      await foreign.quit()
    }
  })
})

describe('errors reach callers typed', () => {
  it('an error reply is a RedisCommandError with its prefix, retryable false for WRONGTYPE', async () => {
    await using redis = createRedis(redisUrl())
    const key = `${prefix}wrongtype`
    await redis.client.set(key, 'string')
    const error = await redis.client.lpush(key, 'a').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RedisCommandError)
    const err = error as RedisCommandError
    expect(err.code).toBe('PULSE_ERR_REDIS_COMMAND')
    expect(err.data).toEqual({ reply: 'WRONGTYPE', retryable: false, command: 'lpush' })
    expect(err.message).toMatch(/^WRONGTYPE /)
    expect((err.cause as Error).name).toBe('ReplyError')
  })

  it('maps every [err, result] pair of a pipeline', async () => {
    await using redis = createRedis(redisUrl())
    const key = `${prefix}pipe`
    const results = await redis.client.pipeline().set(key, 's').lpush(key, 'x').get(key).exec()
    expect(results?.map(([err]) => err?.constructor.name ?? null)).toEqual([null, 'RedisCommandError', null])
    expect(results?.[2]?.[1]).toBe('s')
  })

  it('maps EXECABORT and the errors inside an EXEC reply', async () => {
    await using redis = createRedis(redisUrl())
    const key = `${prefix}multi`
    await redis.client.set(key, 's')
    const results = await redis.client.multi().get(key).lpush(key, 'x').exec()
    expect(results?.[0]).toEqual([null, 's'])
    expect(results?.[1]?.[0]).toBeInstanceOf(RedisCommandError)
    expect((results?.[1]?.[0] as RedisCommandError).data).toMatchObject({ reply: 'WRONGTYPE', retryable: false })

    const aborted = await redis.client
      .multi()
      .get(key)
      .call('NOSUCHCOMMAND')
      .exec()
      .catch((e: unknown) => e)
    expect(aborted).toBeInstanceOf(RedisCommandError)
    expect((aborted as RedisCommandError).data).toMatchObject({ reply: 'EXECABORT', retryable: false, command: 'exec' })
  })

  it('an unreachable server gives RedisConnectionError, quickly, and no unhandled error event', async () => {
    // A port nobody listens on: 1 is reserved and refused on loopback.
    const redis = createRedis('redis://127.0.0.1:1', { reconnectMinDelayMs: 10, reconnectMaxDelayMs: 50 })
    try {
      const first = await timed(() => redis.client.get('x'))
      expect(first.result.status).toBe('rejected')
      expect((first.result as PromiseRejectedResult).reason).toBeInstanceOf(RedisConnectionError)
      expect(first.ms).toBeLessThan(5_000)
      // The outage is known now: a new command fails at once, with the socket error as cause.
      const second = await timed(() => redis.client.get('x'))
      const reason = (second.result as PromiseRejectedResult).reason as RedisConnectionError
      expect(reason).toBeInstanceOf(RedisConnectionError)
      expect((reason.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED')
      expect(second.ms).toBeLessThan(100)
    } finally {
      await redis.close()
    }
    expect(redis.client.status).toBe('end')
  })
})

describe('blocking()', () => {
  it('is a separate connection, made once: a BLPOP on it does not hold up the main client', async () => {
    await using redis = createRedis(redisUrl())
    const blocking = redis.blocking()
    expect(redis.blocking()).toBe(blocking)
    expect(blocking).not.toBe(redis.client)
    expect(await blocking.client('GETNAME')).toBe('pulse:blocking')
    const key = `${prefix}list`
    const popped = blocking.blpop(key, 10)
    // The main connection answers while the BLPOP waits…
    const ping = await timed(() => redis.client.ping())
    expect(ping.result).toEqual({ status: 'fulfilled', value: 'PONG' })
    expect(ping.ms).toBeLessThan(1_000)
    // …and feeds it.
    await redis.client.rpush(key, 'item')
    expect(await within(popped, 5_000, 'BLPOP')).toEqual([key, 'item'])
  })

  it('close cancels a pending blocking read with ClosedError', async () => {
    const redis = createRedis(redisUrl())
    const blocking = redis.blocking()
    await blocking.ping()
    const popped = blocking.blpop(`${prefix}never`, 0).catch((e: unknown) => e)
    const closing = await timed(() => redis.close())
    expect(closing.result.status).toBe('fulfilled')
    expect(closing.ms).toBeLessThan(2_000)
    expect(await within(popped, 1_000, 'the BLPOP to settle')).toBeInstanceOf(ClosedError)
    expect(() => redis.blocking()).toThrow(ClosedError)
  })
})

describe('close()', () => {
  it('is idempotent and memoised', async () => {
    const redis = createRedis(redisUrl())
    const first = redis.close()
    expect(redis.close()).toBe(first)
    await first
    await redis.close()
    await redis[Symbol.asyncDispose]()
    expect(redis.state).toBe('closed')
  })

  it('lets commands sent before it finish, and rejects later ones with ClosedError', async () => {
    const redis = createRedis(redisUrl())
    const key = `${prefix}drain`
    const before = redis.client.set(key, 'before')
    const closing = redis.close()
    await expect(redis.client.get(key)).rejects.toBeInstanceOf(ClosedError)
    expect(await before).toBe('OK')
    await closing
    await expect(redis.client.get(key)).rejects.toBeInstanceOf(ClosedError)
    expect(await admin.get(key)).toBe('before')
  })

  it('is bounded: a QUIT stuck behind a long command ends in a forced disconnect and CloseTimeoutError', async () => {
    const redis = createRedis(redisUrl(), { closeTimeoutMs: 200 })
    await redis.client.ping()
    // A blocking read on the main connection (where it does not belong) holds QUIT up behind it.
    const sleeping = redis.client.blpop(`${prefix}never`, 2).catch((e: unknown) => e)
    const closing = await timed(() => redis.close())
    expect(closing.ms).toBeLessThan(1_500)
    expect((closing.result as PromiseRejectedResult).reason).toBeInstanceOf(CloseTimeoutError)
    expect(await sleeping).toBeInstanceOf(ClosedError)
    expect(redis.client.status).toBe('end')
    expect(redis.state).toBe('destroyed')
    expect(await redis.closed).toBeInstanceOf(CloseTimeoutError)
  })

  it('destroy() drops the connections at once', async () => {
    const redis = createRedis(redisUrl())
    const blocking = redis.blocking()
    await Promise.all([redis.client.ping(), blocking.ping()])
    const popped = blocking.blpop(`${prefix}never`, 0).catch((e: unknown) => e)
    await redis.destroy()
    expect(redis.client.status).toBe('end')
    expect(blocking.status).toBe('end')
    expect(await popped).toBeInstanceOf(ClosedError)
    await redis.close()
  })
})

describe('reconnectDelayMs', () => {
  it('doubles from the minimum up to the maximum, with jitter in the upper half', () => {
    for (let i = 0; i < 50; i++) {
      const first = reconnectDelayMs(1, 50, 2_000)
      expect(first).toBeGreaterThanOrEqual(25)
      expect(first).toBeLessThanOrEqual(50)
      const fourth = reconnectDelayMs(4, 50, 2_000)
      expect(fourth).toBeGreaterThanOrEqual(200)
      expect(fourth).toBeLessThanOrEqual(400)
      const late = reconnectDelayMs(1_000, 50, 2_000)
      expect(late).toBeGreaterThanOrEqual(1_000)
      expect(late).toBeLessThanOrEqual(2_000)
    }
  })
})
