/**
 * `npm run bench:rmap`: the replicated map's figures (BENCHMARKS.md, "rmap").
 *
 *   1. local `get` ops/s on the main thread: a plain `ReplicatedMap`, the runtime-attached replica
 *      read from its shared snapshot (design A), and the same replica asked over the ring (design B,
 *      1 and 64 asks in flight);
 *   2. write → visible in ANOTHER PROCESS, p50/p99 (a child joined to the map timestamps each write);
 *   3. write ops/s of `map.set` versus raw `EVALSHA` of an `HSET + PUBLISH` script, same run.
 *
 * Variants are interleaved (rotated order) over ROUNDS rounds (default 3) and ratios are taken
 * within a round. Uses REDIS_URL, or starts a throwaway redis-server. `--quick`: 1 round and small
 * counts (a smoke run, not for quoting). The figures also go to a JSON result (bench/lib/results.ts).
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createInterface } from 'node:readline'

import { Redis } from 'ioredis'

import { ReplicatedMap, rmapReplica } from '../../actors/rmap/index.js'
import { LocalRedis } from '../../cli/local-servers/redis-server.js'
import { Runtime } from '../../runtime/runtime.js'
import { captureEnv } from '../lib/env.js'
import { emitResult, type Figure, figure, ratio } from '../lib/results.js'

const QUICK = process.argv.includes('--quick')
const ROUNDS = Number(process.env.ROUNDS ?? (QUICK ? 1 : 3))
const KEYS = 1_000
const GETS = Number(process.env.GETS ?? (QUICK ? 1_000_000 : 20_000_000))
const ASK_MS = QUICK ? 200 : 1_000
const LAT_WRITES = Number(process.env.LAT_WRITES ?? (QUICK ? 200 : 2_000))
const WRITES = Number(process.env.WRITES ?? (QUICK ? 3_000 : 30_000))
const IN_FLIGHT = 64

const fmt = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0)
const rotate = <T>(items: readonly T[], by: number): T[] => items.map((_, i) => items[(i + by) % items.length] as T)
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN
}

function timeGets(get: (key: string) => string | undefined, keys: readonly string[]): number {
  let hits = 0
  const t0 = performance.now()
  for (let i = 0; i < GETS; i++) if (get(keys[i & 511] as string) !== undefined) hits++
  const ms = performance.now() - t0
  if (hits !== GETS) throw new Error(`gets missed: ${GETS - hits}`)
  return GETS / (ms / 1000)
}

async function timeAsks(
  ask: (key: string) => Promise<string | undefined>,
  keys: readonly string[],
  inFlight: number,
): Promise<number> {
  let done = 0
  const deadline = performance.now() + ASK_MS
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: inFlight }, async (_, w) => {
      for (let i = w; performance.now() < deadline; i += inFlight) {
        if ((await ask(keys[i & 511] as string)) === undefined) throw new Error('ask missed')
        done++
      }
    }),
  )
  return done / ((performance.now() - t0) / 1000)
}

async function timeWrites(write: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < WRITES) await write(next++)
    }),
  )
  return WRITES / ((performance.now() - t0) / 1000)
}

async function latencyRound(url: string, map: ReplicatedMap, round: number): Promise<number[]> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./observer.ts', import.meta.url).pathname, url, map.name],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const lines = createInterface({ input: child.stdout })
  const result = new Promise<number[]>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.startsWith('latencies ')) resolve(JSON.parse(line.slice('latencies '.length)) as number[])
    })
    child.once('exit', (code) => reject(new Error(`observer exited with ${String(code)}`)))
  })
  await new Promise<void>((resolve) => lines.on('line', (line) => line === 'joined' && resolve()))
  await map.delete('lat-done')
  for (let seq = 0; seq < LAT_WRITES; seq++) {
    await map.set('lat', `${round * LAT_WRITES + seq}:${performance.timeOrigin + performance.now()}`)
    await sleep(1) // paced: one write at a time, so the figure is latency, not queueing
  }
  await map.set('lat-done', '1')
  const latencies = await result
  child.kill()
  return latencies
}

async function main(): Promise<void> {
  const env = captureEnv(['ioredis'])
  const local = process.env.REDIS_URL === undefined ? await LocalRedis.start() : undefined
  const url = process.env.REDIS_URL ?? local?.url ?? ''
  const raw = new Redis(url)
  const name = `bench:rmap:${randomUUID().slice(0, 8)}`
  const keys = Array.from({ length: KEYS }, (_, i) => `key-${i}`)
  const rt = await Runtime.start()
  const report: string[] = []
  const figures: Figure[] = []
  const gets: Record<string, number[]> = { plain: [], A: [], B1: [], B64: [] }
  const visible: Record<'p50' | 'p99' | 'max', number[]> = { p50: [], p99: [], max: [] }
  const writes: Record<string, number[]> = { raw: [], joined: [], only: [] }
  const serverVersion = /redis_version:(\S+)/.exec(await raw.info('server'))?.[1] ?? 'unknown'
  const out = (line: string): void => {
    report.push(line)
    console.log(line)
  }
  try {
    const fields: string[] = ['=rev', '1']
    for (const key of keys) fields.push(key, `value-of-${key}-${'x'.repeat(32)}`)
    await raw.hset(`map:${name}:content`, ...fields)
    const plain = await ReplicatedMap.join(url, name)
    const attached = await rmapReplica(rt, url, name)

    out(
      `machine: ${env.cpuModel}, ${env.cores} cores, ${env.memoryGiB} GiB, ${env.platform} ${env.kernel}; node ${env.node}; load ${env.loadAvg}; commit ${env.commit}${env.dirty ? ' (dirty tree)' : ''}`,
    )
    out(`\n### 1. local get (map of ${KEYS} keys, ${fmt(GETS)} gets per variant; B: ${ASK_MS} ms of asks)`)
    out(
      '| round | plain ReplicatedMap | attached, A: snapshot | attached, B: ask ×1 | attached, B: ask ×64 | A ÷ plain | A ÷ B×64 |',
    )
    out('|---|---|---|---|---|---|---|')
    const getVariants = ['plain', 'A', 'B1', 'B64'] as const
    for (let round = 0; round < ROUNDS; round++) {
      const r: Record<string, number> = {}
      for (const v of rotate(getVariants, round)) {
        if (v === 'plain') r[v] = timeGets((k) => plain.get(k), keys)
        else if (v === 'A') r[v] = timeGets((k) => attached.get(k), keys)
        else r[v] = await timeAsks((k) => attached.getFromActor(k), keys, v === 'B1' ? 1 : 64)
      }
      const [p, a, b1, b64] = [r.plain ?? 0, r.A ?? 0, r.B1 ?? 0, r.B64 ?? 0]
      for (const [k, v] of Object.entries({ plain: p, A: a, B1: b1, B64: b64 })) gets[k]?.push(v)
      out(
        `| ${round + 1} | ${fmt(p)}/s | ${fmt(a)}/s | ${fmt(b1)}/s | ${fmt(b64)}/s | ${(a / p).toFixed(2)} | ${(a / b64).toFixed(0)}× |`,
      )
    }

    out(`\n### 2. write → visible in another process (${LAT_WRITES} paced writes per round; ms)`)
    out('| round | samples | p50 | p99 | max |')
    out('|---|---|---|---|---|')
    for (let round = 0; round < ROUNDS; round++) {
      const lat = (await latencyRound(url, plain, round)).sort((x, y) => x - y)
      visible.p50.push(percentile(lat, 50))
      visible.p99.push(percentile(lat, 99))
      visible.max.push(lat.at(-1) ?? NaN)
      out(
        `| ${round + 1} | ${lat.length} | ${percentile(lat, 50).toFixed(3)} | ${percentile(lat, 99).toFixed(3)} | ${(lat.at(-1) ?? NaN).toFixed(3)} |`,
      )
    }
    await attached.close()
    await plain.close()

    out(
      `\n### 3. write ops/s (${fmt(WRITES)} writes per variant, ${IN_FLIGHT} in flight; the joined replica is its channel’s only subscriber, the raw and write-only channels have none)`,
    )
    out(
      '| round | raw EVALSHA HSET+PUBLISH | map.set (joined replica) | map.set (write-only handle) | joined ÷ raw | write-only ÷ raw |',
    )
    out('|---|---|---|---|---|---|')
    const wname = `${name}:w`
    const joined = await ReplicatedMap.join(url, `${wname}:joined`)
    const writeOnly = await ReplicatedMap.writeOnly(url, `${wname}:only`)
    const lua = "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]); redis.call('PUBLISH', KEYS[2], ARGV[2]); return 1"
    const sha = (await raw.script('LOAD', lua)) as string
    const rawHash = `map:${wname}:raw:content`
    const rawChannel = `map:${wname}:raw:updates`
    const writeVariants = ['raw', 'joined', 'only'] as const
    for (let round = 0; round < ROUNDS; round++) {
      const r: Record<string, number> = {}
      for (const v of rotate(writeVariants, round)) {
        const value = `value-${round}-${'x'.repeat(32)}`
        if (v === 'raw') r[v] = await timeWrites((i) => raw.evalsha(sha, 2, rawHash, rawChannel, `k${i & 1023}`, value))
        else if (v === 'joined') r[v] = await timeWrites((i) => joined.set(`k${i & 1023}`, value))
        else r[v] = await timeWrites((i) => writeOnly.set(`k${i & 1023}`, value))
      }
      const [w, j, o] = [r.raw ?? 0, r.joined ?? 0, r.only ?? 0]
      writes.raw?.push(w)
      writes.joined?.push(j)
      writes.only?.push(o)
      out(
        `| ${round + 1} | ${fmt(w)}/s | ${fmt(j)}/s | ${fmt(o)}/s | ${((100 * j) / w).toFixed(0)} % | ${((100 * o) / w).toFixed(0)} % |`,
      )
    }
    await joined.close()
    await writeOnly.close()
    await raw.del(rawHash, `map:${wname}:joined:content`, `map:${wname}:only:content`)
    const getLabels: Record<string, string> = {
      plain: 'plain ReplicatedMap',
      A: 'attached, A: snapshot',
      B1: 'attached, B: ask ×1',
      B64: 'attached, B: ask ×64',
    }
    const spec = { op: '>=' as const, value: 10e6, source: 'spec rmap.md' }
    for (const [k, values] of Object.entries(gets))
      figures.push(figure('local get', getLabels[k] ?? k, 'ops/s', values, k === 'A' ? { target: spec } : {}))
    for (const [k, values] of Object.entries(visible))
      figures.push(figure(`write → visible in another process ${k}`, 'map.set', 'ms', values))
    const writeLabels: Record<string, string> = {
      raw: 'raw EVALSHA HSET+PUBLISH',
      joined: 'map.set (joined replica)',
      only: 'map.set (write-only handle)',
    }
    for (const [k, values] of Object.entries(writes))
      figures.push(figure('write', writeLabels[k] ?? k, 'ops/s', values))
    const per = (a: readonly number[], b: readonly number[]) => a.map((x, i) => x / (b[i] ?? NaN))
    const bound = { op: '>=' as const, value: 0.9, source: 'issue: map.set ≥ 0.9× raw (spec rmap.md: 0.7)' }
    emitResult({
      suite: 'rmap',
      env,
      quick: QUICK,
      partial: ['ROUNDS', 'GETS', 'LAT_WRITES', 'WRITES'].some((k) => process.env[k] !== undefined),
      servers: { 'redis-server': serverVersion },
      figures,
      ratios: [
        ratio('attached A ÷ plain, local get', per(gets.A ?? [], gets.plain ?? [])),
        ratio('map.set (joined replica) ÷ raw, write', per(writes.joined ?? [], writes.raw ?? []), bound),
        ratio('map.set (write-only handle) ÷ raw, write', per(writes.only ?? [], writes.raw ?? []), bound),
      ],
    })
  } finally {
    await raw.del(`map:${name}:content`)
    await rt.close()
    raw.disconnect()
    await local?.close()
  }
}

await main()
