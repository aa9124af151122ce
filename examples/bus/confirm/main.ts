// `confirm: n`: the publisher resumes once n distinct consumers acked the event — here one in-process
// consumer and one HTTP client of a BusServer.
// Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/bus/confirm/main.ts
import { randomUUID } from 'node:crypto'

import { Bus, BusClient, BusServer } from 'pulse-runtime/bus'
import type { BusEvent, Subscription } from 'pulse-runtime/bus'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const bus = await Bus.connect(url, { namespaces: ['orders'], keyPrefix: `example:bus:${randomUUID().slice(0, 8)}:` })
const server = await BusServer.listen({ bus, port: 0 })
const client = new BusClient(server.url)

const local = bus.get('orders.>', { ack: 'manual' })
const remote = client.get('orders.>', { ack: 'manual' })
await Promise.all([local.ready, remote.ready])

const consume = async (name: string, sub: Subscription) => {
  const value = (await sub.next()).value as BusEvent
  console.log(`${name} got ${value.subject}, acking`)
  await value.ack()
}
const published = bus.put('orders.placed', { id: 7 }, { confirm: 2, timeoutMs: 5_000 })
await Promise.all([consume('in-process consumer', local), consume('HTTP consumer', remote)])
const result = await published
console.log(`confirmed by 2 consumers: ${result.id}`)

await local.return()
await remote.return()
await client.close()
await server.close()
await bus.close()
