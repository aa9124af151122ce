// The actor kernel in one file: spawn an actor on its own thread, tell and ask it, watch the
// supervisor restart it after a crash, read its stats, close. Run: npx tsx examples/runtime/main.ts
import assert from 'node:assert/strict'
import { once } from 'node:events'

import { ActorCrashedError, Runtime } from 'pulse-runtime/runtime'

import type { CounterMsg } from './counter.actor.js'

const rt = await Runtime.start({ supervision: { maxRestarts: 5, withinMs: 10_000, backoffMs: 50 } })
const counter = await rt.spawn<CounterMsg, number>(new URL('./counter.actor.ts', import.meta.url), {
  name: 'counter',
  args: { start: 10 },
})

for (let i = 1; i <= 5; i++) counter.tell({ type: 'add', n: i }) // false would mean: mailbox full
console.log('count:', await counter.ask({ type: 'get' }, { timeoutMs: 1_000 }))

const restarted = once(rt, 'restart')
await assert.rejects(counter.ask({ type: 'fail' }), ActorCrashedError) // a throw is a crash...
await restarted // ...and the supervisor restarts the actor from its init
console.log('after restart:', await counter.ask({ type: 'get' }))

const [stats] = await rt.stats()
console.log(`stats: processed ${stats?.processed}, restarts ${stats?.restarts}, receive p99 ${stats?.latencyUs.p99} µs`)
await rt.close()
