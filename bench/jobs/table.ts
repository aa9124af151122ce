/** The markdown of the jobs suite: results, same-round ratios, statements, claim cost, targets. */
import { fmtRatio, ratios, si, sig, summarize, table, type Summary } from '../lib/stats.js'
import type { BulkResult, SteadyResult } from './adapter.js'
import type { ClaimCost } from './claim-cost.js'
import type { StatementCount } from './statements.js'

/**
 * The CPU a bulk drain used per job, in µs: this process (every thread: the library's worker and its
 * producer, the adapter's completion poll) and every PostgreSQL process, from the first enqueue to the
 * last completion (`BulkResult.drainCpu`). `phaseCpu` is the same over the whole phase: with the clean-up,
 * connect, start and close, which a phase of 20,000 jobs divides among few jobs.
 * On a shared box it moves less than jobs/s; with both cores busy, jobs/s ≈ busy cores ÷ CPU per job.
 */
export interface BulkCpu {
  readonly node: number
  readonly postgres: number
}

export interface JobsResults {
  readonly adapters: readonly string[]
  /** Per adapter, one entry per round. */
  readonly bulk: Map<string, BulkResult[]>
  readonly bulkCpu: Map<string, BulkCpu[]>
  readonly phaseCpu: Map<string, BulkCpu[]>
  readonly steady: Map<number, Map<string, SteadyResult[]>>
  readonly statements: StatementCount[]
  readonly claims: Map<number, ClaimCost[]>
}

const med = (values: readonly number[]): Summary => summarize(values)
/** A phase that did not run (`--only`) shows a dash. */
const rate = (values: readonly number[]): string => {
  if (values.length === 0) return '—'
  const s = med(values)
  return `${si(s.median)} [${si(s.min)}–${si(s.max)}]`
}
const ms = (values: readonly number[]): string => {
  if (values.length === 0) return '—'
  const s = med(values)
  return `${sig(s.median)} [${sig(s.min)}–${sig(s.max)}]`
}

/** Node + PostgreSQL µs per job, per round. */
const cpuTotal = (r: JobsResults, name: string): number[] => get(r.bulkCpu, name).map((c) => c.node + c.postgres)
const cpuCell = (cpu: readonly BulkCpu[]): string => {
  if (cpu.length === 0) return '—'
  const total = med(cpu.map((c) => c.node + c.postgres))
  return `${sig(med(cpu.map((c) => c.node)).median)} + ${sig(med(cpu.map((c) => c.postgres)).median)} = ${sig(total.median)} [${sig(total.min)}–${sig(total.max)}]`
}

function get<K, V>(map: Map<K, V>, key: K): V {
  const v = map.get(key)
  if (v === undefined) throw new Error(`missing ${String(key)}`)
  return v
}

export function resultsMarkdown(r: JobsResults, rates: readonly number[]): string {
  const out: string[] = []
  const headers = [
    'variant',
    'bulk e2e jobs/s',
    'bulk submit jobs/s',
    'bulk CPU µs/job, drain: node + PostgreSQL',
    'the same, whole phase',
  ]
  for (const rt of rates) headers.push(`${rt}/s p50 ms`, `${rt}/s p95 ms`, `${rt}/s p99 ms`, `${rt}/s enqueue p50 ms`)
  out.push(
    table(
      headers,
      r.adapters.map((name) => {
        const b = get(r.bulk, name)
        const row = [
          name,
          rate(b.map((x) => x.e2e)),
          rate(b.map((x) => x.submit)),
          cpuCell(get(r.bulkCpu, name)),
          cpuCell(get(r.phaseCpu, name)),
        ]
        for (const rt of rates) {
          const s = get(get(r.steady, rt), name)
          row.push(
            ms(s.map((x) => x.p50)),
            ms(s.map((x) => x.p95)),
            ms(s.map((x) => x.p99)),
            ms(s.map((x) => x.enqueueP50)),
          )
        }
        return row
      }),
    ),
  )
  const missing = r.adapters
    .flatMap((name) => rates.flatMap((rt) => get(get(r.steady, rt), name).map((x) => x.missing)))
    .reduce((a, b) => a + b, 0)
  out.push(
    '',
    `Steady-phase jobs enqueued but not started within 20 s of the end (all rounds, all variants): ${missing}.`,
  )

  const e2e = (name: string): number[] => get(r.bulk, name).map((x) => x.e2e)
  const lat = (rt: number, name: string, p: 'p50' | 'p99'): number[] => get(get(r.steady, rt), name).map((x) => x[p])
  const ratioRows: string[][] = []
  const pairs: [string, string][] = [
    ['pulse', 'graphile-worker'],
    ['pulse', 'pg-boss'],
    ['pulse', 'bare SQL'],
    ['pulse+prefetch', 'graphile-worker'],
    ['pulse+prefetch', 'pg-boss'],
    ['pulse+prefetch', 'bare SQL'],
    ['graphile-worker', 'bare SQL'],
    ['pg-boss', 'bare SQL'],
    ['bare SQL + history', 'bare SQL'],
    ['pulse+prefetch', 'bare SQL + history'],
    ['graphile-worker', 'bare SQL + history'],
    // The bare loops run k at once (`--bare-loops k`): against the one loop, graphile and pulse.
    ...r.adapters
      .filter((name) => / ×\d+$/.test(name))
      .flatMap((name): [string, string][] => [
        [name, name.replace(/ ×\d+$/, '')],
        [name, 'graphile-worker'],
        ['pulse+prefetch', name],
      ]),
  ]
  const ran = (name: string): boolean => (r.bulk.get(name)?.length ?? 0) > 0
  for (const [a, b] of pairs)
    if (ran(a) && ran(b)) ratioRows.push([`${a} ÷ ${b}, bulk e2e`, fmtRatio(ratios(e2e(a), e2e(b)))])
  for (const rt of rates) {
    for (const other of ['graphile-worker', 'bare SQL']) {
      if (lat(rt, 'pulse', 'p50').length === 0 || lat(rt, other, 'p50').length === 0) continue
      ratioRows.push([
        `pulse ÷ ${other}, latency p50 at ${rt}/s`,
        fmtRatio(ratios(lat(rt, 'pulse', 'p50'), lat(rt, other, 'p50'))),
      ])
      ratioRows.push([
        `pulse ÷ ${other}, latency p99 at ${rt}/s`,
        fmtRatio(ratios(lat(rt, 'pulse', 'p99'), lat(rt, other, 'p99'))),
      ])
    }
  }
  // CPU per job the other way up: how many times cheaper a variant runs a job than graphile.
  for (const name of ['pulse+prefetch', 'bare SQL + history', 'bare SQL']) {
    if (ran(name) && ran('graphile-worker'))
      ratioRows.push([
        `graphile-worker's ÷ ${name}'s bulk CPU per job`,
        fmtRatio(ratios(cpuTotal(r, 'graphile-worker'), cpuTotal(r, name))),
      ])
  }
  out.push('', 'Same-round ratios, median [min–max]:', '', table(['ratio', 'value'], ratioRows))

  if (r.statements.length > 0) {
    out.push(
      '',
      'pulse statements per job (bulk, 20,000 jobs, concurrency 50), per round:',
      '',
      table(
        [
          'round',
          'transactions (all threads)',
          'caller-thread statements',
          'per job',
          'caller thread / job',
          'jobs thread / job',
        ],
        r.statements.map((s, i) => [
          String(i + 1),
          String(s.xacts),
          String(s.main),
          s.perJob.toFixed(3),
          s.mainPerJob.toFixed(3),
          s.threadPerJob.toFixed(3),
        ]),
      ),
    )
  }
  if (r.claims.size > 0) {
    const rows = [...r.claims.entries()].map(([backlog, cs]) => [
      si(backlog),
      ms(cs.map((c) => c.p50Ms)),
      ms(cs.map((c) => c.p99Ms)),
      ms(cs.map((c) => c.meanMs)),
      [...new Set(cs.map((c) => c.indexes))].join(' / '),
      ms(cs.map((c) => c.loadSeconds)),
    ])
    out.push(
      '',
      'pulse claim statement (claimJobs, batch 50), ~200 timed claims per round (backlog loaded once; claimed rows of earlier rounds stay):',
      '',
      table(
        ['ready backlog', 'p50 ms', 'p99 ms', 'mean ms', 'indexes in plan', 'load + VACUUM ANALYZE s (once)'],
        rows,
      ),
    )
    const keys = [...r.claims.keys()].sort((a, b) => a - b)
    const lo = keys[0]
    const hi = keys[keys.length - 1]
    if (lo !== undefined && hi !== undefined && lo !== hi) {
      const ratio = ratios(
        get(r.claims, hi).map((c) => c.p50Ms),
        get(r.claims, lo).map((c) => c.p50Ms),
      )
      out.push('', `Claim p50 at ${si(hi)} ÷ at ${si(lo)}, same round: ${fmtRatio(ratio)}`)
    }
  }
  return out.join('\n')
}

/** The spec's targets with met / missed (medians of same-round ratios). */
export function targetsMarkdown(r: JobsResults): string {
  const rows: string[][] = []
  const has = (n: string): boolean => (r.bulk.get(n)?.length ?? 0) > 0
  const e2e = (name: string): number[] => get(r.bulk, name).map((x) => x.e2e)
  const check = (what: string, values: number[], ok: (m: number) => boolean, fmt: (n: number) => string): void => {
    const s = med(values)
    rows.push([what, `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`, ok(s.median) ? 'met' : '**missed**'])
  }
  const x = (n: number): string => `${n.toFixed(2)}×`
  // The spec's bar is for the default options (`pulse`); the tuned variant is shown against the same bar.
  for (const variant of ['pulse', 'pulse+prefetch']) {
    if (!has(variant)) continue
    if (has('graphile-worker'))
      check(
        `bulk e2e ${variant} ÷ graphile-worker ≥ 1.4`,
        ratios(e2e(variant), e2e('graphile-worker')),
        (m) => m >= 1.4,
        x,
      )
    if (has('pg-boss'))
      check(`bulk e2e ${variant} ÷ pg-boss ≥ 4`, ratios(e2e(variant), e2e('pg-boss')), (m) => m >= 4, x)
    if (has('bare SQL + history'))
      check(
        `bulk e2e ${variant} ÷ bare SQL + history ≥ 1.0`,
        ratios(e2e(variant), e2e('bare SQL + history')),
        (m) => m >= 1,
        x,
      )
  }
  const s1000 = r.steady.get(1000)
  if (s1000 !== undefined && (s1000.get('pulse')?.length ?? 0) > 0) {
    const p = get(s1000, 'pulse')
    check(
      '1000/s p50 ≤ 2 ms',
      p.map((v) => v.p50),
      (m) => m <= 2,
      (n) => `${sig(n)} ms`,
    )
    check(
      '1000/s p99 ≤ 15 ms',
      p.map((v) => v.p99),
      (m) => m <= 15,
      (n) => `${sig(n)} ms`,
    )
    if (s1000.has('graphile-worker')) {
      const g = get(s1000, 'graphile-worker')
      check(
        '1000/s p50 below graphile-worker (ratio < 1)',
        ratios(
          p.map((v) => v.p50),
          g.map((v) => v.p50),
        ),
        (m) => m < 1,
        x,
      )
      check(
        '1000/s p99 ≤ half of graphile-worker (ratio ≤ 0.5)',
        ratios(
          p.map((v) => v.p99),
          g.map((v) => v.p99),
        ),
        (m) => m <= 0.5,
        x,
      )
    }
  }
  if (r.statements.length > 0)
    check(
      'statements (transactions) per job ≤ 1, batch ≥ 10',
      r.statements.map((s) => s.perJob),
      (m) => m <= 1,
      (n) => n.toFixed(3),
    )
  const keys = [...r.claims.keys()].sort((a, b) => a - b)
  const lo = keys[0]
  const hi = keys[keys.length - 1]
  if (lo !== undefined && hi !== undefined && lo !== hi) {
    check(
      `claim cost flat, p50 at ${si(hi)} ÷ ${si(lo)} (≤ 1.5 read as flat)`,
      ratios(
        get(r.claims, hi).map((c) => c.p50Ms),
        get(r.claims, lo).map((c) => c.p50Ms),
      ),
      (m) => m <= 1.5,
      x,
    )
  }
  return table(['target', 'measured, median [min–max]', 'verdict'], rows)
}
