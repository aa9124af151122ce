/**
 * `tsx bench/rmap/write-cost.ts`: where a `map.set` write's time goes, 64 writes in flight. Per variant:
 * ops/s, this process's CPU per write, Redis's CPU per write (INFO cpu) and Redis's time inside the
 * script calls per write (INFO commandstats). Variants: the raw `HSET + PUBLISH` script; `rmapSet-2` run
 * one call per write on a map that has no subscriber; the same with a joined replica of the map in this
 * process; `map.set` on that joined replica (the sets of a tick in one `rmapSetMany-2` call). Uses
 * REDIS_URL, or starts a throwaway redis-server. WRITES (30,000) writes per variant, ROUNDS (3) rounds, the
 * variants' order rotated each round.
 */
import { randomUUID } from 'node:crypto'

import { Redis } from 'ioredis'

import { ReplicatedMap } from '../../actors/rmap/index.js'
import { LocalRedis } from '../../cli/local-servers/redis-server.js'
import { createRedis } from '../../transports/redis/connection.js'
import { kMapScripts } from '../../transports/redis/rmap/index.js'

const WRITES = Number(process.env.WRITES ?? 30_000)
const IN_FLIGHT = 64
const ROUNDS = Number(process.env.ROUNDS ?? 3)

interface Cost {
  readonly opsPerSec: number
  readonly nodeUs: number
  readonly redisUs: number
  readonly scriptUs: number
}

function redisCpuMs(info: string): number {
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN)
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1000
}

function scriptUs(info: string): number {
  let total = 0
  for (const match of info.matchAll(/cmdstat_(?:evalsha|eval):calls=\d+,usec=(\d+)/g)) total += Number(match[1])
  return total
}

async function measure(raw: Redis, write: (i: number) => Promise<unknown>): Promise<Cost> {
  for (let i = 0; i < 1_000; i++) await write(i) // warm up: scripts loaded, JIT
  await raw.config('RESETSTAT')
  const cpu0 = redisCpuMs(await raw.info('cpu'))
  const node0 = process.cpuUsage()
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < WRITES) await write(next++)
    }),
  )
  const seconds = (performance.now() - t0) / 1000
  const node = process.cpuUsage(node0)
  const cpu1 = redisCpuMs(await raw.info('cpu'))
  const stats = await raw.info('commandstats')
  return {
    opsPerSec: WRITES / seconds,
    nodeUs: (node.user + node.system) / WRITES,
    redisUs: ((cpu1 - cpu0) * 1000) / WRITES,
    scriptUs: scriptUs(stats) / WRITES,
  }
}

async function main(): Promise<void> {
  const local = process.env.REDIS_URL === undefined ? await LocalRedis.start() : undefined
  const url = process.env.REDIS_URL ?? local?.url ?? ''
  const raw = new Redis(url)
  const pulse = createRedis(url, { name: 'bench-write-cost' })
  const name = `bench:rmap-cost:${randomUUID().slice(0, 8)}`
  const value = `value-${'x'.repeat(32)}`
  const lua = "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]); redis.call('PUBLISH', KEYS[2], ARGV[2]); return 1"
  const sha = (await raw.script('LOAD', lua)) as string
  const joined = await ReplicatedMap.join(url, `${name}:joined`)
  const joinedKeys = [`map:${name}:joined:content`, `map:${name}:joined:updates`]
  const aloneKeys = [`map:${name}:alone:content`, `map:${name}:alone:updates`]
  const variants: Record<string, (i: number) => Promise<unknown>> = {
    'raw EVALSHA HSET+PUBLISH': (i) => raw.evalsha(sha, 2, `map:${name}:raw:content`, 'nobody', `k${i & 1023}`, value),
    'rmapSet-2 per write, no subscriber': (i) =>
      kMapScripts.set.run(pulse, aloneKeys, ['0', 'sliding', `k${i & 1023}`, value]),
    'rmapSet-2 per write, joined replica': (i) =>
      kMapScripts.set.run(pulse, joinedKeys, ['0', 'sliding', `k${i & 1023}`, value]),
    'map.set, joined replica (rmapSetMany-2 per tick)': (i) => joined.set(`k${i & 1023}`, value),
  }
  try {
    console.log(`| round | variant | ops/s | Node CPU µs/write | Redis CPU µs/write | in scripts µs/write |`)
    console.log('|---|---|---|---|---|---|')
    const entries = Object.entries(variants)
    for (let round = 0; round < ROUNDS; round++) {
      for (const [label, write] of entries.map((_, i) => entries[(i + round) % entries.length] ?? entries[0]!)) {
        const c = await measure(raw, write)
        console.log(
          `| ${round + 1} | ${label} | ${(c.opsPerSec / 1000).toFixed(1)} k | ${c.nodeUs.toFixed(1)} | ${c.redisUs.toFixed(1)} | ${c.scriptUs.toFixed(1)} |`,
        )
      }
    }
  } finally {
    await joined.close()
    await raw.del(`map:${name}:raw:content`, joinedKeys[0] ?? '', aloneKeys[0] ?? '')
    raw.disconnect()
    await pulse.close()
    await local?.close()
  }
}

await main()
