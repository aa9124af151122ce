// Replicated maps in one file: join a map, write with each helper, read locally, wait for a
// notification, destroy. Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/rmap/basics/main.ts
import assert from 'node:assert/strict'

import { ReplicatedMap } from 'pulse-runtime/rmap'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

// Every process that joins "example-basics" shares its content. The sliding TTL lets Redis drop the
// map a minute after the last write, so the example leaves nothing behind.
const map = await ReplicatedMap.join(url, 'example-basics', { slidingTtlMs: 60_000 })
await map.reset()

console.log('set foo=bar, previous value:', await map.set('foo', 'bar')) // undefined
console.log('set foo=baz, previous value:', await map.set('foo', 'baz')) // 'bar'
console.log('delete foo, previous value:', await map.delete('foo')) // 'baz'
console.log('append:', await map.appendValues('fruits', 'apple', 'pear', 'plum'))
console.log('append unique:', await map.appendUniqueValues('fruits', 'pear', 'fig'))
console.log('remove:', await map.removeValues('fruits', 'pear'))
console.log('inc:', await map.inc('visits'), await map.inc('visits', 10))
console.log('set if not exists:', await map.setIfNotExists('owner', 'me'), await map.setIfNotExists('owner', 'you'))

// Writes return once Redis ran them; the local copy follows one pub/sub hop later. setAndWait
// returns once the local copy holds the write, so reads right after see it.
await map.setAndWait('greeting', 'hello')
assert.equal(map.get('greeting'), 'hello')
assert.deepEqual(map.getValues('fruits'), ['apple', 'plum', 'fig'])
console.log('keys:', map.keys().sort(), 'size:', map.size)
console.log('content:', map.toObject())

// Notifications are coalesced: re-read the map on each one.
const changes = map.subscribe()
const pending = changes.next()
await map.set('greeting', 'bonjour')
const { value: kind } = await pending
console.log(`notified: ${kind}; greeting is now ${map.get('greeting')}`)
assert.equal(map.get('greeting'), 'bonjour')
await changes.return()

// After close() the map stops replicating; reads keep the last copy. reset() and destroy() still work.
await map.close()
console.log('after close, the last copy is still readable: greeting =', map.get('greeting'))
await map.destroy()
