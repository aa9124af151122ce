// One sink (and one reader) over two streams: addStream joins a second stream, events from both come
// through one iterator (tell them apart with `event.streamName`), removeStream leaves it again.
// Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/streaming/multi-streams/main.ts
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import { type SinkEvent, Stream, type StreamSubscription } from 'pulse-runtime/streaming'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const suffix = randomUUID().slice(0, 8)
const orders = new Stream(url, `example-orders-${suffix}`)
const refunds = new Stream(url, `example-refunds-${suffix}`)

/** The next event of a subscription (it ends only when the sink closes). */
async function next(events: StreamSubscription<SinkEvent>): Promise<SinkEvent> {
  const result = await events.next()
  if (result.done === true) throw new Error('the sink closed')
  return result.value
}

try {
  await orders.add('order.placed', 'order 1')
  await refunds.add('refund.issued', 'refund 1')

  // A sink on "orders"; addStream makes it read "refunds" too (its group there starts at the sink's
  // start, or at `options.start`). Both groups are named after the sink.
  const sink = await orders.newSink('ledger', { start: 'oldest', blockMs: 100 })
  await sink.addStream(refunds)
  // A reader works the same way, with its own cursor per stream.
  const reader = await orders.newReader({ start: 'oldest', blockMs: 100 })
  await reader.addStream(refunds, { start: 'oldest' })
  console.log('sink reads', sink.streams, '· reader reads', reader.streams)

  const events = sink.subscribe()
  const seen = new Set<string>()
  for (let i = 0; i < 2; i++) {
    const event = await next(events)
    console.log(`sink got ${event.eventName} from "${event.streamName}": ${event.payload.toString()}`)
    seen.add(event.streamName)
    await sink.ack(event)
  }
  assert.deepEqual(seen, new Set([orders.name, refunds.name]))

  const fromReader: string[] = []
  for await (const event of reader) {
    fromReader.push(`${event.streamName}:${event.eventName}`)
    if (fromReader.length === 2) break
  }
  console.log('reader got', fromReader.sort())

  // removeStream: events added to "refunds" from now on do not reach this sink (the last instance of a
  // sink to leave a stream destroys its group there).
  await sink.removeStream(refunds)
  await refunds.add('refund.issued', 'refund 2')
  await orders.add('order.placed', 'order 2')
  const event = await next(events)
  console.log(
    `after removeStream the sink reads ${JSON.stringify(sink.streams)} and gets ${event.eventName}: ${event.payload.toString()}`,
  )
  assert.equal(event.streamName, orders.name)
  await sink.ack(event)

  await reader.close()
  await sink.close()
} finally {
  for (const stream of [orders, refunds]) {
    await stream.destroy()
    await stream.close()
  }
}
