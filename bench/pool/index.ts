/**
 * `npm run bench:pool`: the pool's figures (BENCHMARKS.md, "pool").
 *
 *   1. `dispatchJob` round trip p50/p99: 2 nodes × 8 workers in this process, one dispatch at a time
 *      (claim script → router → worker stream → start → ack → `d` back to the dispatcher);
 *   2. dispatch throughput with 100 concurrent dispatchers (the two nodes dispatch alternately);
 *   3. rebalance time for N running jobs when a worker joins (a third node adds one worker): from
 *      `addWorker` until every key of the new bucket runs on the new worker.
 *
 * Knobs: ROUNDS (3), RTT (1,000 dispatches per round), JOBS (5,000 per throughput round),
 * REBALANCE (10,000 running jobs). Uses REDIS_URL, or starts a throwaway redis-server. `--quick`: 1
 * round and small counts (a smoke run, not for quoting). The figures also go to a JSON result
 * (bench/lib/results.ts).
 */
import { randomUUID } from 'node:crypto'

import { Redis } from 'ioredis'

import { jumpHash, PoolNode, type WorkerHandler } from '../../actors/pool/index.js'
import { LocalRedis } from '../../cli/local-servers/redis-server.js'
import { captureEnv, envMarkdown } from '../lib/env.js'
import { latencyHistogram, percentilesUs, recordMs } from '../lib/histogram.js'
import { emitResult, figure } from '../lib/results.js'
import { si, table } from '../lib/stats.js'

const QUICK = process.argv.includes('--quick')
const ROUNDS = Number(process.env.ROUNDS ?? (QUICK ? 1 : 3))
const RTT = Number(process.env.RTT ?? (QUICK ? 100 : 1_000))
const JOBS = Number(process.env.JOBS ?? (QUICK ? 500 : 5_000))
const REBALANCE = Number(process.env.REBALANCE ?? (QUICK ? 1_000 : 10_000))
const DISPATCHERS = 100
const WORKERS_PER_NODE = 8
const options = { workerTtlMs: 5_000, ackGracePeriodMs: 5_000, jobSinkBlockMs: 1_000, maxQueuedJobs: 10_000 }

const noop: WorkerHandler = { start() {}, stop() {} }

async function deleteByPrefix(raw: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
    cursor = next
    if (keys.length > 0) await raw.unlink(...keys)
  } while (cursor !== '0')
}

async function twoNodes(url: string, pool: string): Promise<PoolNode[]> {
  const nodes = [await PoolNode.join(url, pool, options), await PoolNode.join(url, pool, options)]
  for (const node of nodes) for (let i = 0; i < WORKERS_PER_NODE; i++) await node.addWorker(noop)
  return nodes
}

async function roundTrip(url: string, round: number): Promise<{ p50: number; p99: number; max: number }> {
  const pool = `bench-pool-rtt-${randomUUID().slice(0, 8)}`
  const nodes = await twoNodes(url, pool)
  const h = latencyHistogram()
  for (let i = 0; i < 50; i++) await nodes[i % 2]!.dispatchJob(`warm-${i}`, 'x')
  for (let i = 0; i < RTT; i++) {
    const t0 = performance.now()
    await nodes[i % 2]!.dispatchJob(`r${round}-${i}`, 'payload')
    recordMs(h, performance.now() - t0)
  }
  await nodes[0]!.shutdown()
  await nodes[1]!.close()
  const p = percentilesUs(h)
  return { p50: p.p50 / 1000, p99: p.p99 / 1000, max: p.max / 1000 }
}

async function throughput(url: string): Promise<number> {
  const pool = `bench-pool-tput-${randomUUID().slice(0, 8)}`
  const nodes = await twoNodes(url, pool)
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: DISPATCHERS }, async (_, d) => {
      while (next < JOBS) await nodes[d % 2]!.dispatchJob(`t-${next++}`, 'payload')
    }),
  )
  const rate = JOBS / ((performance.now() - t0) / 1000)
  await nodes[0]!.shutdown()
  await nodes[1]!.close()
  return rate
}

async function rebalance(url: string): Promise<{ moved: number; ms: number; dispatchMs: number }> {
  const pool = `bench-pool-rebal-${randomUUID().slice(0, 8)}`
  const nodes = await twoNodes(url, pool)
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: DISPATCHERS }, async (_, d) => {
      while (next < REBALANCE) await nodes[d % 2]!.dispatchJob(`b-${next++}`, 'payload')
    }),
  )
  const dispatchMs = performance.now() - t0
  const keys = Array.from({ length: REBALANCE }, (_, i) => `b-${i}`)
  const newBucket = 2 * WORKERS_PER_NODE
  const moving = new Set(keys.filter((key) => jumpHash(key, newBucket + 1) === newBucket))
  const third = await PoolNode.join(url, pool, options)
  let started = 0
  let done!: () => void
  const all = new Promise<void>((resolve) => (done = resolve))
  const t1 = performance.now()
  await third.addWorker({
    start(job) {
      if (moving.has(job.key) && ++started === moving.size) done()
    },
    stop() {},
  })
  await all
  const ms = performance.now() - t1
  await nodes[0]!.shutdown()
  await nodes[1]!.close()
  await third.close()
  return { moved: moving.size, ms, dispatchMs }
}

async function main(): Promise<void> {
  const local = process.env.REDIS_URL === undefined ? await LocalRedis.start() : undefined
  const url = process.env.REDIS_URL ?? local?.url ?? ''
  const raw = new Redis(url)
  const env = captureEnv(['ioredis'])
  const serverVersion = /redis_version:(\S+)/.exec(await raw.info('server'))?.[1] ?? 'unknown'
  try {
    const rtt: string[][] = []
    const tput: string[][] = []
    const rttP50: number[] = []
    const rttP99: number[] = []
    const rates: number[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      const r = await roundTrip(url, round)
      rtt.push([String(round), String(RTT), r.p50.toFixed(3), r.p99.toFixed(3), r.max.toFixed(3)])
      const rate = await throughput(url)
      rttP50.push(r.p50)
      rttP99.push(r.p99)
      rates.push(rate)
      tput.push([String(round), String(JOBS), `${si(rate)} jobs/s`])
      console.error(
        `round ${round}: rtt p50 ${r.p50.toFixed(3)} ms p99 ${r.p99.toFixed(3)} ms; ${si(rate)} dispatches/s`,
      )
    }
    const rb = await rebalance(url)
    console.error(`rebalance: ${rb.moved} of ${REBALANCE} moved in ${rb.ms.toFixed(0)} ms`)
    console.log(`## pool\n\n${envMarkdown(env)}\n`)
    console.log(
      `### 1. dispatchJob round trip (2 nodes × ${WORKERS_PER_NODE} workers, one at a time; ms)\n${table(['round', 'dispatches', 'p50', 'p99', 'max'], rtt)}\n`,
    )
    console.log(
      `### 2. dispatch throughput (${DISPATCHERS} concurrent dispatchers, 2 nodes × ${WORKERS_PER_NODE} workers)\n${table(['round', 'jobs', 'rate'], tput)}\n`,
    )
    console.log(
      `### 3. rebalance when a worker joins (${REBALANCE} running jobs on 16 workers; a 17th joins)\n${table(
        ['running jobs', 'moved (new bucket)', 'time to move all', 'time to dispatch them'],
        [[String(REBALANCE), String(rb.moved), `${rb.ms.toFixed(0)} ms`, `${rb.dispatchMs.toFixed(0)} ms`]],
      )}`,
    )
    emitResult({
      suite: 'pool',
      env,
      quick: QUICK,
      partial: ['ROUNDS', 'RTT', 'JOBS', 'REBALANCE'].some((k) => process.env[k] !== undefined),
      servers: { 'redis-server': serverVersion },
      figures: [
        figure('dispatchJob round trip p50', 'pool', 'ms', rttP50),
        figure('dispatchJob round trip p99', 'pool', 'ms', rttP99),
        figure(`dispatch throughput, ${DISPATCHERS} dispatchers`, 'pool', 'jobs/s', rates),
        figure(`rebalance: time to move a bucket of ${REBALANCE} running jobs`, 'pool', 'ms', [rb.ms]),
        figure('rebalance: jobs moved', 'pool', 'jobs', [rb.moved]),
        figure(`rebalance: time to dispatch ${REBALANCE} jobs`, 'pool', 'ms', [rb.dispatchMs]),
      ],
    })
  } finally {
    await deleteByPrefix(raw, 'map:bench-pool-')
    await deleteByPrefix(raw, 'pulse:stream:bench-pool-')
    await raw.quit()
    await local?.close()
  }
}

await main()
