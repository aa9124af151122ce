/**
 * The classification table, fed with real error replies: those a command can provoke on a healthy
 * server, and the others through a script returning `redis.error_reply('<PREFIX> …')`, which the server
 * sends as is.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { ClosedError, PulseError, RedisCommandError, RedisConnectionError } from '../../../runtime/errors.js'
import {
  classifyRedisError,
  createRedis,
  kReplyPolicies,
  mapRedisError,
  replyPrefix,
} from '../../../transports/redis/index.js'
import type { PulseRedis } from '../../../transports/redis/index.js'
import { deleteByPrefix, testPrefix } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { nextEvent } from './wait.js'

let raw: Redis
let redis: PulseRedis
const prefix = testPrefix()

beforeAll(async () => {
  raw = new Redis(redisUrl())
  redis = createRedis(redisUrl())
  await Promise.all([raw.ping(), redis.client.ping()])
})

afterAll(async () => {
  await deleteByPrefix(raw, prefix)
  await Promise.all([raw.quit(), redis.close()])
})

/** A real ReplyError from the server, with the given text. */
async function replyError(text: string): Promise<Error> {
  const error = await raw.eval('return redis.error_reply(ARGV[1])', 0, text).catch((e: unknown) => e)
  expect(error).toBeInstanceOf(Error)
  expect((error as Error).name).toBe('ReplyError')
  return error as Error
}

const kExpected: readonly [prefix: string, retryable: boolean][] = [
  ['LOADING', true],
  ['BUSY', true],
  ['TRYAGAIN', true],
  ['CLUSTERDOWN', true],
  ['MASTERDOWN', true],
  ['READONLY', true],
  ['NOREPLICAS', true],
  ['MOVED', true],
  ['ASK', true],
  ['NOSCRIPT', false],
  ['WRONGTYPE', false],
  ['ERR', false],
  ['NOAUTH', false],
  ['WRONGPASS', false],
  ['NOPERM', false],
  ['OOM', false],
  ['EXECABORT', false],
  ['BUSYGROUP', false],
  ['NOGROUP', false],
  ['SOMETHINGNEW', false], // unknown prefixes are fatal
]

describe('the reply table', () => {
  it.each(kExpected)('%s → retryable %s', async (prefixWord, retryable) => {
    const error = await replyError(`${prefixWord} a test reply`)
    expect(classifyRedisError(error)).toEqual({ kind: 'reply', reply: prefixWord, retryable })
    const mapped = mapRedisError(error, 'eval')
    expect(mapped).toBeInstanceOf(RedisCommandError)
    expect((mapped as RedisCommandError).data).toEqual({ reply: prefixWord, retryable, command: 'eval' })
    expect(mapped.message).toBe(error.message)
    expect(mapped.cause).toBe(error)
    // A mapped error classifies the same way.
    expect(classifyRedisError(mapped)).toEqual(classifyRedisError(error))
  })

  it('has an entry for every prefix above but the unknown one', () => {
    for (const [word] of kExpected.filter(([w]) => w !== 'SOMETHINGNEW')) expect(kReplyPolicies.has(word)).toBe(true)
  })

  it('classifies the replies real commands provoke', async () => {
    const stream = `${prefix}stream`
    const key = `${prefix}string`
    await raw.set(key, 'v')
    await raw.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM')
    const cases: [Promise<unknown>, string][] = [
      [raw.lpush(key, 'a'), 'WRONGTYPE'],
      [raw.call('NOSUCHCOMMAND'), 'ERR'],
      [raw.xgroup('CREATE', stream, 'g', '$'), 'BUSYGROUP'],
      [raw.xreadgroup('GROUP', 'missing', 'c', 'STREAMS', stream, '>'), 'NOGROUP'],
      [raw.evalsha('0000000000000000000000000000000000000000', 0), 'NOSCRIPT'],
    ]
    for (const [promise, word] of cases) {
      const error = await promise.catch((e: unknown) => e)
      expect(classifyRedisError(error)).toMatchObject({ kind: 'reply', reply: word, retryable: false })
    }
  })

  it('reads the prefix as the first word', () => {
    expect(replyPrefix('WRONGTYPE Operation against a key')).toBe('WRONGTYPE')
    expect(replyPrefix('LOADING')).toBe('LOADING')
  })
})

describe('connection failures', () => {
  it('MaxRetriesPerRequestError and the socket error are connection failures, retryable', async () => {
    // One reconnect attempt, then the client gives up by itself (a disconnect() while it waits to
    // reconnect would leave it hanging: see forceDisconnect in connection.ts).
    const client = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      retryStrategy: (n) => (n < 2 ? 10 : null),
    })
    const socketErrors: Error[] = []
    client.on('error', (e: Error) => socketErrors.push(e))
    const ended = nextEvent(client, 'end', 5_000)
    try {
      const error = await client.get('x').catch((e: unknown) => e)
      expect((error as Error).name).toBe('MaxRetriesPerRequestError')
      expect(classifyRedisError(error)).toEqual({ kind: 'connection', retryable: true })
      const mapped = mapRedisError(error, 'get')
      expect(mapped).toBeInstanceOf(RedisConnectionError)
      expect((mapped as RedisConnectionError).data).toEqual({ command: 'get' })
      expect(mapped.cause).toBe(error)
      expect((socketErrors[0] as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNREFUSED')
      expect(classifyRedisError(socketErrors[0])).toEqual({ kind: 'connection', retryable: true })
    } finally {
      await ended
    }
  })

  it("'Connection is closed.' is a connection failure", async () => {
    const client = new Redis(redisUrl())
    await client.quit()
    const error = await client.get('x').catch((e: unknown) => e)
    expect((error as Error).message).toBe('Connection is closed.')
    expect(mapRedisError(error)).toBeInstanceOf(RedisConnectionError)
    expect((mapRedisError(error) as PulseError).data).toBeUndefined()
  })
})

describe('other errors', () => {
  it('are returned as they are, not retryable', () => {
    const plain = new TypeError('bad argument')
    expect(classifyRedisError(plain)).toEqual({ kind: 'other', retryable: false })
    expect(mapRedisError(plain)).toBe(plain)
    expect(classifyRedisError('a string')).toEqual({ kind: 'other', retryable: false })
    expect(mapRedisError('a string')).toBeInstanceOf(Error)
    const closed = new ClosedError()
    expect(classifyRedisError(closed)).toEqual({ kind: 'other', retryable: false })
    expect(mapRedisError(closed)).toBe(closed)
  })

  it('a subscriber-mode refusal stays a plain error', async () => {
    const sub = createRedis(redisUrl())
    try {
      await sub.client.subscribe(`${prefix}channel`)
      const error = await sub.client.get('x').catch((e: unknown) => e)
      expect(error).not.toBeInstanceOf(PulseError)
      expect(classifyRedisError(error).kind).toBe('other')
    } finally {
      await sub.close()
    }
  })
})
