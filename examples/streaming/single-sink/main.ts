// One stream, one sink: add two events, consume them with a sink (a consumer group) and ack each one;
// then show that an unacked event comes back after the ack grace period with deliveryCount 2.
// Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/streaming/single-sink/main.ts
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import { Stream } from 'pulse-runtime/streaming'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const stream = new Stream(url, `example-single-sink-${randomUUID().slice(0, 8)}`)
try {
  await stream.add('order.placed', JSON.stringify({ order: 1 }))
  await stream.addMany([
    { name: 'order.placed', payload: JSON.stringify({ order: 2 }) },
    { name: 'order.placed', payload: JSON.stringify({ order: 3 }) },
  ])

  // The sink's Redis work (XREADGROUP, acks, keep-alives, redelivery) runs in an actor on a thread of
  // its own. A group starts at `start` when the sink creates it ('oldest': the events added above).
  // Short grace period and idle check so that the redelivery below happens within a second.
  const sink = await stream.newSink('billing', {
    start: 'oldest',
    blockMs: 100,
    ackGracePeriodMs: 300,
    idleCheckMs: 50,
  })
  const seen: string[] = []
  for await (const event of sink) {
    const { order } = JSON.parse(event.payload.toString()) as { order: number }
    console.log(`sink "${event.sinkName}" got ${event.eventName} #${order} (delivery ${event.deliveryCount})`)
    seen.push(`${order}:${event.deliveryCount}`)
    if (order === 2 && event.deliveryCount === 1) {
      console.log('  not acking order 2: it comes back after the grace period')
      continue
    }
    await sink.ack(event) // queued for the actor, XACKed in a batch
    if (order === 2) break // the redelivery of order 2 was the last one expected
  }
  assert.deepEqual(seen, ['1:1', '2:1', '3:1', '2:2'])
  const stats = await sink.stats()
  console.log(`stats: delivered ${stats.delivered}, redelivered ${stats.claimed}, acked ${stats.acked}`)
  await sink.close()
} finally {
  await stream.destroy()
  await stream.close()
}
