/**
 * Without an SDK (no tracer provider, propagator or context manager registered in this process) the
 * spans are no-ops: jobs enqueue and run with a NULL `trace_context`, stream entries and bus entries
 * carry no `x` field, and deliveries work as before.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'

import { JobQueue } from '../../../actors/jobs/index.js'
import { kJobQueueInternals } from '../../../actors/jobs/internal.js'
import { Stream } from '../../../actors/streaming/index.js'
import { nextEvents } from '../../fixtures/jobs/execution-support.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { redisUrl } from '../../helpers/servers.js'
import { Opened as BusOpened, take as takeEvents } from '../bus/helpers.js'
import { Opened as StreamsOpened, rawClient, take } from '../streaming/helpers.js'

let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db.drop()
})

it('enqueues and runs jobs with a NULL trace_context and trace_parent', async () => {
  const queue = await JobQueue.connect({ pg: db.url, pollIntervalMs: 50, backoff: 10 })
  try {
    queue.register('plain', () => undefined)
    await queue.start({ concurrency: 2 })
    const completed = nextEvents(queue, 'completed', 3, (e) => e.name === 'plain')
    const ids = [await queue.enqueue('plain', 1), ...(await queue.enqueueMany([{ name: 'plain', args: 2 }]))]
    ids.push(await queue.enqueue('plain', 3, { idempotencyKey: 'k', priority: 1 }))
    expect((await completed).map((e) => e.id).sort()).toEqual([...ids].sort())
    const { rows } = await queue[kJobQueueInternals].pool.pool.query<{ traced: string }>(
      'SELECT count(*) FILTER (WHERE trace_context IS NOT NULL OR trace_parent IS NOT NULL)::text AS traced FROM pulse.jobs WHERE id = ANY($1::bigint[])',
      [ids],
    )
    expect(rows[0]?.traced).toBe('0')
  } finally {
    await queue.close()
  }
})

it('adds stream and bus entries without a trace field, and delivers them', async () => {
  const streams = new StreamsOpened()
  const buses = new BusOpened()
  const raw = rawClient()
  try {
    const stream = streams.add(new Stream(redisUrl(), streams.name('plain')))
    const sink = streams.add(await stream.newSink(streams.name('s'), { start: 'oldest' }))
    await stream.add('e', 'p')
    await stream.addMany([{ name: 'f', payload: 'q' }])
    const events = await take(sink.subscribe(), 2)
    expect(events.map((e) => e.eventName)).toEqual(['e', 'f'])
    await sink.ackMany(events)
    const entries = await raw.xrange(stream.key, '-', '+')
    expect(entries.map(([, fields]) => fields.filter((_, i) => i % 2 === 0))).toEqual([
      ['n', 'p'],
      ['n', 'p'],
    ])

    const bus = await buses.bus()
    const sub = bus.get('a.x', { start: 'oldest' })
    await bus.put('a.x', { n: 1 })
    expect((await takeEvents(sub, 1)).map((e) => e.subject)).toEqual(['a.x'])
    await sub.return()
    const [entry] = await raw.xrange(bus.keys.log('a'), '-', '+')
    expect(entry?.[1].filter((_, i) => i % 2 === 0)).toEqual(['i', 's', 'c', 'p'])
  } finally {
    await buses.close()
    await streams.close(raw)
    await raw.quit()
  }
})
