// Topics: events carry an optional topic, and readers and sinks can filter on it, with an exact
// `topic` or a `topicPattern` (a regular expression searched in the topic — "my-*" is a RegExp, not a
// glob). Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/streaming/pub-sub/main.ts
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import { InvalidArgumentError, type StreamEvent, Stream } from 'pulse-runtime/streaming'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const stream = new Stream(url, `example-pub-sub-${randomUUID().slice(0, 8)}`)

/** The first `n` events of an iterable, as `name@topic`. */
async function first(n: number, events: AsyncIterable<StreamEvent>): Promise<string[]> {
  const out: string[] = []
  for await (const event of events) {
    out.push(`${event.eventName}@${event.topic ?? '-'}`)
    if (out.length === n) break
  }
  return out
}

try {
  await stream.add('event 1', 'payload 1', { topic: 'my-topic' })
  await stream.add('event 2', 'payload 2', { topic: 'other-topic' })
  await stream.add('event 3', 'payload 3', { topic: 'my-other-topic' })
  await stream.add('event 4', 'payload 4') // no topic: matches no filter

  const everything = await stream.newReader({ start: 'oldest', blockMs: 100 })
  const pattern = await stream.newReader({ start: 'oldest', blockMs: 100, topicPattern: 'my-*' })
  const exact = await stream.newReader({ start: 'oldest', blockMs: 100, topic: 'other-topic' })

  const all = await first(4, everything)
  const mine = await first(2, pattern)
  const other = await first(1, exact)
  console.log('no filter:            ', all)
  console.log("topicPattern 'my-*':  ", mine)
  console.log("topic 'other-topic':  ", other)
  assert.deepEqual(mine, ['event 1@my-topic', 'event 3@my-other-topic'])
  assert.deepEqual(other, ['event 2@other-topic'])
  console.log('pattern reader stats:', pattern.stats())

  // A sink with a filter acks the events it filters out: they are not this sink's work, so they are
  // not redelivered to it (other sinks, with other names, have groups of their own and still get them).
  const sink = await stream.newSink('my-topics', { start: 'oldest', blockMs: 100, topicPattern: /^my-/ })
  for await (const event of sink) {
    console.log(`sink got ${event.eventName}@${String(event.topic)}`)
    await sink.ack(event)
    if (event.eventName === 'event 3') break
  }
  const stats = await sink.stats()
  console.log(`sink stats: delivered ${stats.delivered}, filtered (and acked) ${stats.filtered}`)
  assert.equal(stats.filtered, 2)

  // An invalid pattern is refused when the reader is created.
  await assert.rejects(stream.newReader({ topicPattern: 'my-(' }), InvalidArgumentError)
  console.log('an invalid topicPattern is rejected with PULSE_ERR_INVALID_ARG')

  await Promise.all([everything.close(), pattern.close(), exact.close(), sink.close()])
} finally {
  await stream.destroy()
  await stream.close()
}
