// Request/reply through `_bus_` inboxes, and NoResponderError instead of a hang.
// Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/bus/request-reply/main.ts
import { randomUUID } from 'node:crypto'

import { Bus, NoResponderError } from 'pulse-runtime/bus'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const bus = await Bus.connect(url, { namespaces: ['rpc'], keyPrefix: `example:bus:${randomUUID().slice(0, 8)}:` })

const adder = bus.reply('rpc.add', (req) => {
  const { a, b } = JSON.parse(req.payload.toString()) as { a: number; b: number }
  return { sum: a + b }
})
await adder.ready

const reply = await bus.request('rpc.add', { a: 20, b: 22 }, { timeoutMs: 2_000 })
console.log('rpc.add replied', reply.toString())

try {
  await bus.request('rpc.nobody', {}, { timeoutMs: 2_000 })
} catch (error) {
  if (!(error instanceof NoResponderError)) throw error
  console.log('rpc.nobody:', error.code, error.message)
}
await adder.close()
await bus.close()
