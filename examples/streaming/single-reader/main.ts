// One stream, one reader: add an event, then read it back with a reader that starts at the oldest
// entry. Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/streaming/single-reader/main.ts
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import { Stream } from 'pulse-runtime/streaming'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

// A stream is a Redis stream (`pulse:stream:<name>`); the constructor does no I/O. A random suffix
// keeps reruns apart; `destroy()` at the end removes the key.
const stream = new Stream(url, `example-single-reader-${randomUUID().slice(0, 8)}`)
try {
  const id = await stream.add('greeting', 'hello, world')
  console.log(`added event "greeting" with id ${id}`)

  // 'oldest' reads what was added before the reader existed (the default, 'newest', would not).
  // A short block keeps close() quick; the default is 5 s.
  const reader = await stream.newReader({ start: 'oldest', blockMs: 100 })
  for await (const event of reader) {
    console.log(
      `read ${event.eventName} ${event.id} from "${event.streamName}": ${event.payload.toString()} (created ${event.createdAt.toISOString()})`,
    )
    assert.equal(event.id, id)
    assert.equal(event.payload.toString(), 'hello, world')
    break // leaves this subscription; the reader keeps running until it is closed
  }
  await reader.close()
} finally {
  await stream.destroy()
  await stream.close()
}
