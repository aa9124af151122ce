/**
 * The job-queue suite: pulse's `JobQueue` side by side with graphile-worker, pg-boss and a bare SQL
 * claim/ack loop (alone, and with the lease and event rows pulse writes on every transition: bare.ts),
 * on one PostgreSQL server, each library in a database of its own.
 *
 *   npm run bench:jobs                     # 3 interleaved rounds, full workload
 *   npm run bench:jobs -- --rounds 5       # more rounds
 *   npm run bench:jobs -- --quick          # smoke: 5,000 jobs, 0.5 s + 3 s steady phases, 1 M → 100 k backlog
 *   npm run bench:jobs -- --only bulk,steady,statements,claim   --json FILE    --steady-seconds N   --rates 1000,200
 *   npm run bench:jobs -- --prefetch 450   # the prefetch of the `pulse+prefetch` variant (default 450: a claim window of 500)
 *   npm run bench:jobs -- --bare-loops 2   # also both bare loops run 2 at once, on 2 connections ('bare SQL ×2', …)
 *
 * Round k runs every variant once per phase, in the same order (bulk, then steady at each rate), so the
 * variants share the machine's conditions and ratios are taken within a round. Markdown goes to stdout,
 * progress to stderr.
 */
import { writeFileSync } from 'node:fs'

import { captureEnv, envMarkdown } from '../lib/env.js'
import { emitResult, type Figure, figure, ratio, type Ratio } from '../lib/results.js'
import { postgresCpuMicros } from '../lib/proc-cpu.js'
import { machineState, suiteArgs } from '../lib/runner.js'
import type { BulkResult, JobsAdapter, SteadyResult } from './adapter.js'
import { bareAdapter } from './bare.js'
import { claimCost, type ClaimCost, loadBacklog } from './claim-cost.js'
import { graphileAdapter } from './graphile.js'
import { pgBossAdapter } from './pgboss.js'
import { pulseAdapter } from './pulse.js'
import { openServer } from './server.js'
import { statementsPerJob, type StatementCount } from './statements.js'
import { type BulkCpu, type JobsResults, resultsMarkdown, targetsMarkdown } from './table.js'

const kUsage = `npm run bench:jobs -- [--rounds N] [--quick] [--only bulk,steady,statements,claim] [--json FILE]
                      [--steady-seconds N] [--rates 1000,200] [--prefetch 450] [--bare-loops K]`
const args = suiteArgs(kUsage, ['only', 'json', 'rates', 'steady-seconds', 'prefetch', 'bare-loops'])
const ctx = args.ctx
const option = (name: string): string | undefined => args.string(name.slice(2))
const only = new Set((option('--only') ?? 'bulk,steady,statements,claim').split(','))
const jsonFile = option('--json')
const log = ctx.log

const kJobs = ctx.quick ? 5_000 : 20_000
const kConcurrency = 50
const kRates = (option('--rates') ?? '1000,200').split(',').map(Number)
const kWarmupSeconds = ctx.quick ? 0.5 : 1
const kSteadySeconds = Number(option('--steady-seconds') ?? (ctx.quick ? 3 : 10))
/** `pulse+prefetch`: concurrency 50 + prefetch 450 = claims of up to 500, graphile's `localQueue` size and the bare loop's batch. */
const kPrefetch = Number(option('--prefetch') ?? 450)
const kBacklogs = ctx.quick ? [1_000, 100_000] : [1_000, 1_000_000]
const kClaims = 200

const env = captureEnv(['pg', 'graphile-worker', 'pg-boss', 'hdr-histogram-js'])
const before = await machineState()
const server = await openServer()
log(
  `server: ${server.version} (${server.managed ? 'LocalPostgres started by the bench' : 'DATABASE_URL'}); ${server.settings}`,
)

const adapters: JobsAdapter[] = [
  bareAdapter(await server.createDatabase('bench_bare')),
  bareAdapter(await server.createDatabase('bench_bare_history'), { history: true }),
  pulseAdapter(await server.createDatabase('bench_pulse')),
  pulseAdapter(await server.createDatabase('bench_pulse_prefetch'), kPrefetch),
  graphileAdapter(await server.createDatabase('bench_graphile')),
  pgBossAdapter(await server.createDatabase('bench_pgboss')),
]
const kBareLoops = Number(option('--bare-loops') ?? 1)
if (kBareLoops > 1) {
  adapters.push(
    bareAdapter(await server.createDatabase('bench_bare_loops'), { loops: kBareLoops }),
    bareAdapter(await server.createDatabase('bench_bare_history_loops'), { history: true, loops: kBareLoops }),
  )
}
const names = adapters.map((a) => a.name)
const bulk = new Map<string, BulkResult[]>(names.map((n) => [n, []]))
const bulkCpu = new Map<string, BulkCpu[]>(names.map((n) => [n, []]))
const phaseCpu = new Map<string, BulkCpu[]>(names.map((n) => [n, []]))
const steady = new Map<number, Map<string, SteadyResult[]>>(kRates.map((r) => [r, new Map(names.map((n) => [n, []]))]))
const statements: StatementCount[] = []
const claims = new Map<number, ClaimCost[]>()
const results: JobsResults = { adapters: names, bulk, bulkCpu, phaseCpu, steady, statements, claims }

try {
  for (const a of adapters) await a.setup()
  const backlogDbs = new Map<number, { url: string; loadSeconds: number }>()
  if (only.has('claim')) {
    for (const backlog of kBacklogs) {
      const url = await server.createDatabase(`bench_claim_${backlog}`)
      await pulseAdapter(url).setup()
      const loadSeconds = await loadBacklog(url, backlog)
      backlogDbs.set(backlog, { url, loadSeconds })
      log(`  claim backlog ${backlog} loaded in ${loadSeconds.toFixed(1)} s`)
    }
  }
  const stmtUrl = await server.createDatabase('bench_pulse_stmt')
  await pulseAdapter(stmtUrl).setup()
  if (only.has('bulk') || only.has('steady')) {
    for (const a of adapters) {
      const r = await a.bulk(Math.min(kJobs, 5_000), kConcurrency)
      log(`  warm-up ${a.name}: ${r.e2e.toFixed(0)} jobs/s`)
    }
  }
  for (let round = 0; round < ctx.rounds; round++) {
    const tag = `round ${round + 1}/${ctx.rounds}`
    if (only.has('bulk')) {
      for (const a of adapters) {
        const node0 = process.cpuUsage()
        const postgres0 = postgresCpuMicros()
        const r = await a.bulk(kJobs, kConcurrency)
        const node = process.cpuUsage(node0)
        const phase = { node: (node.user + node.system) / kJobs, postgres: (postgresCpuMicros() - postgres0) / kJobs }
        const cpu = { node: r.drainCpu.node / kJobs, postgres: r.drainCpu.postgres / kJobs }
        bulk.get(a.name)?.push(r)
        bulkCpu.get(a.name)?.push(cpu)
        phaseCpu.get(a.name)?.push(phase)
        log(
          `  ${tag} bulk ${a.name}: e2e ${r.e2e.toFixed(0)} jobs/s, submit ${r.submit.toFixed(0)} jobs/s; CPU per job, drain: node ${cpu.node.toFixed(1)} µs, PostgreSQL ${cpu.postgres.toFixed(1)} µs; whole phase: node ${phase.node.toFixed(1)} µs, PostgreSQL ${phase.postgres.toFixed(1)} µs`,
        )
      }
    }
    if (only.has('steady')) {
      for (const rate of kRates) {
        for (const a of adapters) {
          const r = await a.steady({
            rate,
            warmupSeconds: kWarmupSeconds,
            seconds: kSteadySeconds,
            concurrency: kConcurrency,
          })
          steady.get(rate)?.get(a.name)?.push(r)
          log(
            `  ${tag} steady ${rate}/s ${a.name}: p50 ${r.p50.toFixed(2)} p95 ${r.p95.toFixed(2)} p99 ${r.p99.toFixed(2)} max ${r.max.toFixed(1)} ms (n ${r.count}, missing ${r.missing}); enqueue p50 ${r.enqueueP50.toFixed(2)} p99 ${r.enqueueP99.toFixed(2)} ms`,
          )
        }
      }
    }
    if (only.has('statements')) {
      const s = await statementsPerJob(stmtUrl, 'bench_pulse_stmt', kJobs, kConcurrency)
      statements.push(s)
      log(
        `  ${tag} statements: ${s.xacts} xacts, ${s.main} caller-side → ${s.perJob.toFixed(3)}/job (caller ${s.mainPerJob.toFixed(3)}, jobs thread ${s.threadPerJob.toFixed(3)})`,
      )
    }
    if (only.has('claim')) {
      for (const [backlog, { url, loadSeconds }] of backlogDbs) {
        const c = await claimCost(url, backlog, kClaims, loadSeconds)
        if (!claims.has(backlog)) claims.set(backlog, [])
        claims.get(backlog)?.push(c)
        log(
          `  ${tag} claim @${backlog}: p50 ${c.p50Ms.toFixed(3)} p99 ${c.p99Ms.toFixed(3)} ms, plan ${c.indexes}, load ${c.loadSeconds.toFixed(1)} s`,
        )
      }
    }
  }
} finally {
  for (const a of adapters) await a.teardown().catch((error: unknown) => log(`teardown ${a.name}: ${String(error)}`))
  await server.close()
}

const after = await machineState()
const md = [
  envMarkdown(env),
  '',
  `PostgreSQL: ${server.version} (${server.managed ? 'started by the bench: LocalPostgres, fast: false' : 'DATABASE_URL'}); ${server.settings}.`,
  `Workload: ${kJobs} jobs, concurrency ${kConcurrency}; steady ${kWarmupSeconds} s warm-up + ${kSteadySeconds} s at ${kRates.join(' and ')} jobs/s; ${ctx.rounds} rounds${ctx.quick ? ' (--quick)' : ''}.`,
  `Machine state: at start ${before}; at end ${after}.`,
  '',
  resultsMarkdown(results, only.has('steady') ? kRates : []),
  '',
  targetsMarkdown(results),
  '',
].join('\n')
process.stdout.write(md)
if (jsonFile !== undefined) {
  const plain = JSON.stringify(
    results,
    (_k, v: unknown) => (v instanceof Map ? (Object.fromEntries(v) as unknown) : v),
    2,
  )
  writeFileSync(jsonFile, plain)
}
emitResult({
  suite: 'jobs',
  env,
  quick: ctx.quick,
  partial:
    option('--only') !== undefined ||
    ['rates', 'steady-seconds', 'prefetch', 'bare-loops'].some((name) => args.given(name)),
  servers: { postgres: server.version },
  state: { start: before, end: after },
  ...jobsFigures(),
  data: results,
})

/** Every figure the suite prints, and the spec's targets (jobs.md, Performance) as same-round ratios. */
function jobsFigures(): { figures: Figure[]; ratios: Ratio[] } {
  const figures: Figure[] = []
  for (const name of names) {
    const b = bulk.get(name) ?? []
    const cpu = bulkCpu.get(name) ?? []
    const phase = phaseCpu.get(name) ?? []
    if (b.length === 0) continue
    figures.push(
      figure(
        'bulk e2e',
        name,
        'jobs/s',
        b.map((x) => x.e2e),
      ),
      figure(
        'bulk submit',
        name,
        'jobs/s',
        b.map((x) => x.submit),
      ),
      figure(
        'bulk CPU per job, node',
        name,
        'µs',
        cpu.map((c) => c.node),
      ),
      figure(
        'bulk CPU per job, PostgreSQL',
        name,
        'µs',
        cpu.map((c) => c.postgres),
      ),
      figure(
        'bulk CPU per job, total',
        name,
        'µs',
        cpu.map((c) => c.node + c.postgres),
      ),
      figure(
        'bulk phase CPU per job (with clean-up, connect, start and close), node',
        name,
        'µs',
        phase.map((c) => c.node),
      ),
      figure(
        'bulk phase CPU per job (with clean-up, connect, start and close), PostgreSQL',
        name,
        'µs',
        phase.map((c) => c.postgres),
      ),
    )
  }
  for (const [rate, byName] of steady) {
    for (const [name, rs] of byName) {
      if (rs.length === 0) continue
      const bound = (value: number) =>
        name === 'pulse' && rate === 1000 ? { target: { op: '<=' as const, value, source: 'spec jobs.md' } } : {}
      figures.push(
        figure(
          `steady ${rate}/s p50`,
          name,
          'ms',
          rs.map((x) => x.p50),
          bound(2),
        ),
        figure(
          `steady ${rate}/s p95`,
          name,
          'ms',
          rs.map((x) => x.p95),
        ),
        figure(
          `steady ${rate}/s p99`,
          name,
          'ms',
          rs.map((x) => x.p99),
          bound(15),
        ),
        figure(
          `steady ${rate}/s max`,
          name,
          'ms',
          rs.map((x) => x.max),
        ),
        figure(
          `steady ${rate}/s enqueue p50`,
          name,
          'ms',
          rs.map((x) => x.enqueueP50),
        ),
        figure(
          `steady ${rate}/s enqueue p99`,
          name,
          'ms',
          rs.map((x) => x.enqueueP99),
        ),
        figure(
          `steady ${rate}/s not started`,
          name,
          'jobs',
          rs.map((x) => x.missing),
        ),
      )
    }
  }
  if (statements.length > 0)
    figures.push(
      figure(
        'statements per job',
        'pulse',
        'transactions',
        statements.map((x) => x.perJob),
        {
          target: { op: '<=', value: 1, source: 'spec jobs.md' },
        },
      ),
    )
  for (const [backlog, cs] of claims) {
    figures.push(
      figure(
        `claim p50 at ${backlog} ready`,
        'pulse',
        'ms',
        cs.map((c) => c.p50Ms),
      ),
      figure(
        `claim p99 at ${backlog} ready`,
        'pulse',
        'ms',
        cs.map((c) => c.p99Ms),
      ),
    )
  }
  const out: Ratio[] = []
  const per = (a: readonly number[], b: readonly number[]) => a.map((x, i) => x / (b[i] ?? Number.NaN))
  const e2e = (name: string) => (bulk.get(name) ?? []).map((x) => x.e2e)
  const spec = 'spec jobs.md (default options)'
  const peers: [string, number | undefined][] = [
    ['graphile-worker', 1.4],
    ['pg-boss', 4],
    ['bare SQL + history', 1],
    ['bare SQL', undefined],
  ]
  for (const variant of ['pulse', 'pulse+prefetch']) {
    for (const [peer, bound] of peers) {
      if (e2e(variant).length === 0 || e2e(peer).length === 0) continue
      const target =
        variant === 'pulse' && bound !== undefined ? { op: '>=' as const, value: bound, source: spec } : undefined
      out.push(ratio(`${variant} ÷ ${peer}, bulk e2e`, per(e2e(variant), e2e(peer)), target))
    }
  }
  const s1000 = steady.get(1000)
  const pulse1000 = s1000?.get('pulse') ?? []
  const graphile1000 = s1000?.get('graphile-worker') ?? []
  if (pulse1000.length > 0 && graphile1000.length > 0) {
    const pick = (rs: readonly SteadyResult[], k: 'p50' | 'p99') => rs.map((x) => x[k])
    out.push(
      ratio('pulse ÷ graphile-worker, p50 at 1000/s', per(pick(pulse1000, 'p50'), pick(graphile1000, 'p50')), {
        op: '<=',
        value: 1,
        source: 'spec jobs.md (below graphile-worker)',
      }),
      ratio('pulse ÷ graphile-worker, p99 at 1000/s', per(pick(pulse1000, 'p99'), pick(graphile1000, 'p99')), {
        op: '<=',
        value: 0.5,
        source: 'spec jobs.md',
      }),
    )
  }
  for (const [lo, hi] of [[Math.min(...claims.keys()), Math.max(...claims.keys())]] as const) {
    const a = claims.get(hi)
    const b = claims.get(lo)
    if (a !== undefined && b !== undefined && lo !== hi)
      out.push(
        ratio(
          `claim p50 at ${hi} ÷ at ${lo} ready`,
          per(
            a.map((c) => c.p50Ms),
            b.map((c) => c.p50Ms),
          ),
          { op: '<=', value: 1.5, source: 'spec jobs.md (flat; ≤ 1.5 read as flat)' },
        ),
      )
  }
  return { figures, ratios: out }
}
