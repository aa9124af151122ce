/**
 * Spread over a Redis Cluster: N streams, each with one sink, on one Redis server and on a local cluster
 * of 3 masters (no replicas unless `--replicas 1`), in alternating rounds of the same run. Each round,
 * for each target: ADD — E events per stream, every stream at once (pulse `addMany`, 1,000 per call);
 * DRAIN — every stream's sink at once until each has acked its E events. Reported: events/s of the drain
 * and of add + drain over all streams, and the cluster / one-server ratio per round. On a cluster the
 * streams' keys (`pulse:stream:{<name>}`) hash to slots spread over the masters; the run prints how many
 * streams each master holds.
 *
 *   npx tsx bench/streaming/cluster-spread.ts [--streams 6] [--events 20000] [--rounds 3] [--replicas 0]
 */
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'

import { Cluster, Redis } from 'ioredis'

import { type Sink, Stream } from '../../actors/streaming/index.js'
import { LocalRedisCluster } from '../../cli/local-servers/redis-cluster.js'
import { LocalRedis } from '../../cli/local-servers/redis-server.js'
import { parseClusterUrl } from '../../transports/redis/cluster-url.js'

const kChunk = 1_000
const kPayload = Buffer.alloc(32, 'x')

interface RoundResult {
  readonly drain: number
  readonly total: number
}

async function addAll(stream: Stream, events: number): Promise<void> {
  for (let i = 0; i < events; i += kChunk) {
    const count = Math.min(kChunk, events - i)
    await stream.addMany(Array.from({ length: count }, () => ({ name: 'bench', payload: kPayload })))
  }
}

async function drain(sink: Sink, events: number): Promise<void> {
  let read = 0
  for await (const event of sink) {
    void sink.ack(event)
    if (++read === events) break
  }
  await sink.flush()
}

async function round(url: string, streams: number, events: number): Promise<RoundResult> {
  const all = Array.from(
    { length: streams },
    () => new Stream(url, `spread-${randomUUID().slice(0, 8)}`, { maxLen: 0 }),
  )
  // The sinks are created (and their groups joined) before the clock starts.
  const sinks = await Promise.all(all.map((stream) => stream.newSink('bench', { start: 'oldest' })))
  try {
    const t0 = performance.now()
    await Promise.all(all.map((stream) => addAll(stream, events)))
    const t1 = performance.now()
    await Promise.all(sinks.map((sink) => drain(sink, events)))
    const t2 = performance.now()
    const n = streams * events
    return { drain: n / ((t2 - t1) / 1000), total: n / ((t2 - t0) / 1000) }
  } finally {
    await Promise.all(sinks.map((sink) => sink.close()))
    await Promise.all(all.map(async (stream) => stream.destroy().finally(() => stream.close())))
  }
}

/** How many of `keys` each master owns. */
async function spreadOf(url: string, keys: readonly string[]): Promise<number[]> {
  const cluster = new Cluster([...parseClusterUrl(url).nodes])
  try {
    const owners = new Map<string, number>()
    for (const key of keys) {
      const slot = Number(await cluster.cluster('KEYSLOT', key))
      const owner = cluster.slots[slot]?.[0] ?? '?'
      owners.set(owner, (owners.get(owner) ?? 0) + 1)
    }
    return [...owners.values()].sort((a, b) => b - a)
  } finally {
    await cluster.quit()
  }
}

async function serverVersion(url: string): Promise<string> {
  const client = new Redis(url)
  try {
    return /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown'
  } finally {
    await client.quit()
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      streams: { type: 'string', default: '6' },
      events: { type: 'string', default: '20000' },
      rounds: { type: 'string', default: '3' },
      replicas: { type: 'string', default: '0' },
    },
  })
  const streams = Number(values.streams)
  const events = Number(values.events)
  const rounds = Number(values.rounds)
  const single = await LocalRedis.start()
  const cluster = await LocalRedisCluster.start({ masters: 3, replicasPerMaster: Number(values.replicas) })
  try {
    const names = Array.from({ length: streams }, (_, i) => `pulse:stream:{spread-${i}}`)
    console.log(
      `redis-server ${await serverVersion(single.url)}; cluster: 3 masters, ${values.replicas} replica(s) each`,
    )
    console.log(
      `${streams} streams × ${events} events; streams per master (cluster layout): ${(await spreadOf(cluster.url, names)).join(', ')}`,
    )
    console.log('round  target        drain ev/s   add+drain ev/s')
    for (let r = 1; r <= rounds; r += 1) {
      const one = await round(single.url, streams, events)
      const many = await round(cluster.url, streams, events)
      console.log(`${r}      one server    ${one.drain.toFixed(0).padStart(10)}   ${one.total.toFixed(0).padStart(14)}`)
      console.log(
        `${r}      cluster       ${many.drain.toFixed(0).padStart(10)}   ${many.total.toFixed(0).padStart(14)}`,
      )
      console.log(
        `${r}      ratio         ${(many.drain / one.drain).toFixed(2).padStart(9)}×   ${(many.total / one.total).toFixed(2).padStart(13)}×`,
      )
    }
  } finally {
    await Promise.all([single.close(), cluster.close()])
  }
}

await main()
