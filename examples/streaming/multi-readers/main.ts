// Several readers of one stream, each with its own cursor and start position: every reader sees every
// event from where it starts. Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/streaming/multi-readers/main.ts
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import { type Reader, Stream } from 'pulse-runtime/streaming'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const stream = new Stream(url, `example-multi-readers-${randomUUID().slice(0, 8)}`)

/** Reads `n` events from a reader and closes it. */
async function take(label: string, reader: Reader, n: number): Promise<string[]> {
  const names: string[] = []
  for await (const event of reader) {
    console.log(`${label} read ${event.eventName} (${event.id})`)
    names.push(event.eventName)
    if (names.length === n) break
  }
  await reader.close()
  return names
}

try {
  const [first] = await stream.addMany([
    { name: 'event 1', payload: 'one' },
    { name: 'event 2', payload: 'two' },
  ])
  assert.ok(first !== undefined)

  // Start positions are resolved to a concrete id when the reader is created.
  const fromOldest = await stream.newReader({ start: 'oldest', blockMs: 100 })
  const afterFirst = await stream.newReader({ start: { after: first }, blockMs: 100 }) // exclusive
  // { at: date } starts AT that millisecond: it includes an entry whose id is `<ms>-0` (v1.6.5 skips it).
  const atFirst = await stream.newReader({ start: { at: new Date(Number(first.split('-')[0])) }, blockMs: 100 })
  const fromNewest = await stream.newReader({ blockMs: 100 }) // default 'newest': only what comes next

  // A reader's subscriptions each see every event too (both loops below get 'event 3').
  const a = fromNewest.subscribe()
  const b = fromNewest.subscribe()
  await stream.add('event 3', 'three')
  const [na, nb] = await Promise.all([a.next(), b.next()])
  assert.ok(na.done !== true && nb.done !== true)
  console.log(`newest reader, two subscriptions: ${na.value.eventName} and ${nb.value.eventName}`)
  assert.equal(na.value.eventName, 'event 3')
  assert.equal(nb.value.eventName, 'event 3')
  await fromNewest.close()

  assert.deepEqual(await take('[oldest]     ', fromOldest, 3), ['event 1', 'event 2', 'event 3'])
  assert.deepEqual(await take('[after 1st]  ', afterFirst, 2), ['event 2', 'event 3'])
  assert.deepEqual(await take('[at 1st ms]  ', atFirst, 3), ['event 1', 'event 2', 'event 3'])
} finally {
  await stream.destroy()
  await stream.close()
}
