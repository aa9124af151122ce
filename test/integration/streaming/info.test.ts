/** `Stream.info()` against the run's redis-server: length, first and last ids, sinks with pending and consumers. */
import { afterEach, describe, expect, it } from 'vitest'

import { type SinkEvent, Stream } from '../../../actors/streaming/index.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { Opened, take } from './helpers.js'

const raw = useRawRedis()
let opened: Opened
afterEach(async () => {
  await opened.close(raw)
})

const fast = { blockMs: 100, ackGracePeriodMs: 60_000, idleCheckMs: 50 } as const

describe('Stream.info', () => {
  it('is undefined for a stream without a key; an empty stream has no first or last id', async () => {
    opened = new Opened()
    const missing = opened.add(new Stream(redisUrl(), opened.name('missing')))
    expect(await missing.info()).toBeUndefined()
    const empty = opened.add(new Stream(redisUrl(), opened.name('empty')))
    const id = (await empty.add('gone', '')) as string
    await empty.remove(id)
    expect(await empty.info()).toEqual({
      name: empty.name,
      length: 0,
      firstId: undefined,
      lastId: undefined,
      sinks: [],
    })
  })

  it('reads length, first and last ids, and each sink with its pending events and consumers', async () => {
    opened = new Opened()
    const s = opened.add(new Stream(redisUrl(), opened.name('s')))
    const ids = await s.addMany([
      { name: 'a', payload: '1' },
      { name: 'b', payload: '2' },
      { name: 'c', payload: '3' },
    ])
    const sink = opened.add(await s.newSink(opened.name('k'), { ...fast, start: 'oldest' }))
    const got = await take(sink.subscribe(), 3)
    await sink.ack(got[0] as SinkEvent)
    await sink.flush()

    const info = await s.info()
    expect(info).toMatchObject({ name: s.name, length: 3, firstId: ids[0], lastId: ids[2] })
    expect(info?.sinks).toEqual([
      {
        name: sink.name,
        pending: 2,
        lastDeliveredId: ids[2],
        lag: 0,
        consumers: [{ name: sink.consumer, pending: 2, idleMs: expect.any(Number) as number }],
      },
    ])
    // Read-only: nothing changed.
    expect(await raw.xlen(s.key)).toBe(3)
  })

  it('a key of another type rejects with the Redis error, typed', async () => {
    opened = new Opened()
    const s = opened.add(new Stream(redisUrl(), opened.name('str')))
    await raw.set(s.key, 'not a stream')
    await expect(s.info()).rejects.toMatchObject({ code: 'PULSE_ERR_REDIS_COMMAND', data: { reply: 'WRONGTYPE' } })
    // add's pipeline too: the XADD's error reply rejects it.
    await expect(s.add('e', 'x')).rejects.toMatchObject({
      code: 'PULSE_ERR_REDIS_COMMAND',
      data: { reply: 'WRONGTYPE' },
    })
  })
})
