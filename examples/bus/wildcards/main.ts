// Subjects with wildcards: `*` matches one token, `>` the rest (zero or more tokens).
// Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/bus/wildcards/main.ts
import { randomUUID } from 'node:crypto'

import { Bus } from 'pulse-runtime/bus'
import type { BusEvent, Subscription } from 'pulse-runtime/bus'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const keyPrefix = `example:bus:${randomUUID().slice(0, 8)}:` // a fresh namespace log per run

const bus = await Bus.connect(url, { namespaces: ['user'], keyPrefix })
const created = bus.get('user.*.created') // user.<anything>.created
const everything = bus.get('user.>') // every subject of the namespace
await Promise.all([created.ready, everything.ready])

await bus.put('user.eu.created', { name: 'ada' })
await bus.put('user.us.deleted', { name: 'bob' })
await bus.put('user.us.created', { name: 'cy' })

const pairs: [string, Subscription, number][] = [
  ['user.*.created', created, 2],
  ['user.>', everything, 3],
]
for (const [label, sub, n] of pairs) {
  for (let i = 0; i < n; i++) {
    const value = (await sub.next()).value as BusEvent
    console.log(`${label} got ${value.subject} ${value.payload.toString()}`)
  }
  await sub.return()
}
await bus.close()
