// Sinks are consumer groups: instances with the SAME name split the events between them (each event
// goes to one of them), sinks with DIFFERENT names each get every event. Here two instances of sink
// "workers" share the work and sink "audit" sees everything.
// Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/streaming/multi-sinks/main.ts
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import { Runtime } from 'pulse-runtime/runtime'
import { type Sink, Stream } from 'pulse-runtime/streaming'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const count = 20
const stream = new Stream(url, `example-multi-sinks-${randomUUID().slice(0, 8)}`)
// Each sink runs its Redis work in a sink-reader actor; by default a sink starts a runtime of its own,
// here the three share one, and their actors share one thread ('sinks') instead of a thread each.
const runtime = await Runtime.start()

try {
  const options = { runtime, thread: 'sinks', blockMs: 100, ackGracePeriodMs: 1_000 }
  const worker1 = await stream.newSink('workers', options)
  const worker2 = await stream.newSink('workers', options) // same name: joins the same group
  const audit = await stream.newSink('audit', options)

  const got = { worker1: [] as string[], worker2: [] as string[], audit: [] as string[] }
  let done!: () => void
  const allIn = new Promise<void>((resolve) => (done = resolve))
  const consume = async (sink: Sink, into: string[]): Promise<void> => {
    for await (const event of sink) {
      into.push(event.payload.toString())
      await sink.ack(event)
      if (got.worker1.length + got.worker2.length === count && got.audit.length === count) done()
    }
  }
  const loops = [consume(worker1, got.worker1), consume(worker2, got.worker2), consume(audit, got.audit)]

  // Added one by one, so that both workers are waiting for work when events arrive.
  for (let i = 1; i <= count; i++) {
    await stream.add('task', `task-${i}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  await allIn
  console.log(`workers #1 got ${got.worker1.length}: ${got.worker1.join(' ')}`)
  console.log(`workers #2 got ${got.worker2.length}: ${got.worker2.join(' ')}`)
  console.log(`audit      got ${got.audit.length}: every event`)

  // The two instances of "workers" got disjoint sets that together make every event.
  const both = [...got.worker1, ...got.worker2]
  assert.equal(new Set(both).size, count)
  assert.deepEqual(new Set(both), new Set(got.audit))

  // Closing a sink ends its iterators, so the loops finish.
  await Promise.all([worker1.close(), worker2.close(), audit.close()])
  await Promise.all(loops)
} finally {
  await stream.destroy()
  await stream.close()
  await runtime.close()
}
