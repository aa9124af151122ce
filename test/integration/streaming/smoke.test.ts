import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import type { Redis } from 'ioredis'

import { Stream } from '../../../actors/streaming/index.js'
import { redisUrl } from '../../helpers/servers.js'
import { Opened, rawClient, take } from './helpers.js'

let raw: Redis
let opened: Opened
beforeAll(async () => { raw = rawClient(); await raw.ping() })
afterAll(async () => { await raw.quit() })
afterEach(async () => { await opened.close(raw) })

it('smoke', async () => {
  opened = new Opened()
  const stream = opened.add(new Stream(redisUrl(), opened.name('s')))
  const id = await stream.add('hello', 'world', { topic: 'a' })
  const reader = opened.add(await stream.newReader({ start: 'oldest', blockMs: 100 }))
  const [ev] = await take(reader.subscribe(), 1)
  expect(ev?.id).toBe(id)
  const sink = opened.add(await stream.newSink(opened.name('k'), { start: 'oldest', blockMs: 100, ackGracePeriodMs: 200 }))
  const [sev] = await take(sink.subscribe(), 1)
  expect(sev?.payload.toString()).toBe('world')
  await sink.ack(sev!)
  expect(await raw.xpending(stream.key, sink.name)).toEqual([0, null, null, null])
})
