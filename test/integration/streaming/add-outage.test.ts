/**
 * Adds while the server is away: they reject with `RedisConnectionError`, never resolve as if the
 * events were added. A private redis-server: stopping the shared one would disturb the other files.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'

import { Stream } from '../../../actors/streaming/index.js'
import { LocalRedis } from '../../../cli/local-servers/redis-server.js'
import { RedisConnectionError } from '../../../runtime/errors.js'
import { waitFor } from '../../helpers/wait.js'

let server: LocalRedis

beforeAll(async () => {
  // With its append-only file: what was added before the outage is still there after it.
  server = await LocalRedis.start({ persist: true })
})

afterAll(async () => {
  await server.close()
})

it('add and addMany reject with RedisConnectionError while the server is down, and add again once it is back', async () => {
  const stream = new Stream(server.url, 'outage', { maxLen: 0 })
  const raw = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true })
  raw.on('error', () => undefined)
  try {
    expect(await stream.add('tick', 'before')).toMatch(/^\d+-\d+$/)

    await server.stop()
    await expect(stream.add('tick', 'down')).rejects.toBeInstanceOf(RedisConnectionError)
    await expect(stream.add('tick', 'down', { onlyIfExists: true })).rejects.toBeInstanceOf(RedisConnectionError)
    await expect(
      stream.addMany([
        { name: 'tick', payload: 'down-1' },
        { name: 'tick', payload: 'down-2' },
      ]),
    ).rejects.toBeInstanceOf(RedisConnectionError)

    await server.start()
    // The stream's connection comes back on its own (its reconnect backoff is at most 2 s).
    await waitFor(() => stream.redis.client.status === 'ready', { what: "the stream's connection ready again" })
    const ids = await stream.addMany([{ name: 'tick', payload: 'after' }])
    expect(ids).toEqual([expect.stringMatching(/^\d+-\d+$/)])
    await raw.connect()
    const payloads = (await raw.xrange(stream.key, '-', '+')).map(([, fields]) => fields[fields.indexOf('p') + 1])
    expect(payloads).toEqual(['before', 'after'])
  } finally {
    await stream.close()
    raw.disconnect()
  }
})
