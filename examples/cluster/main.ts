// Maps and streams on a Redis Cluster, through one Runtime: each object's keys sit in one hash slot
// (the cluster key layout), and different objects spread over the masters.
// Run: REDIS_CLUSTER_URL=redis-cluster://127.0.0.1:7000,127.0.0.1:7001 npx tsx examples/cluster/main.ts
import assert from 'node:assert/strict'

import { Runtime } from 'pulse-runtime/runtime'

const url = process.env.REDIS_CLUSTER_URL
if (url === undefined) {
  console.log('set REDIS_CLUSTER_URL=redis-cluster://host:port,… to run this example')
  process.exit(0)
}

const rt = await Runtime.start({ redis: url })
try {
  // A replicated map: its hash and its update channel are map:{example-cluster-flags}:content and :updates.
  const flags = await rt.map('example-cluster-flags')
  await flags.setAndWait('beta', 'on')
  assert.equal(flags.get('beta'), 'on')
  console.log('map content:', flags.toObject())
  await flags.destroy()

  // A stream (pulse:stream:{example-cluster-orders}) and a sink reading it on the runtime's threads.
  const orders = rt.stream('example-cluster-orders')
  const sink = await orders.newSink('billing', { start: 'oldest' })
  await orders.add('created', Buffer.from(JSON.stringify({ id: 7 })))
  for await (const event of sink) {
    console.log('sink got', event.streamName, event.eventName, JSON.parse(event.payload.toString()))
    await sink.ack(event)
    break
  }
  await sink.close()
  await orders.destroy()
} finally {
  await rt.close()
}
