/**
 * `npm run bench:streaming`: the streaming figures (BENCHMARKS.md, "streaming"), side by side in
 * one run on one redis-server (started by the bench unless REDIS_URL is set):
 *
 *   1. throughput, no-op consumer (throughput.ts): the raw ioredis `XREADGROUP COUNT 100` + `XACK` loop
 *      (the ceiling), the pulse `Sink` with acks not awaited and awaited, and BullMQ's no-op job
 *      throughput at concurrency 50;
 *   2. add → handler latency p50/p99 at a steady rate (default 5,000 events/s) for a `Sink` and, as a
 *      reference, a `Reader` (steady.ts).
 *
 *   npm run bench:streaming                          # 3 rounds, 100,000 events per throughput run
 *   npm run bench:streaming -- --rounds 5 --events 200000 --bull-jobs 50000 --json FILE
 *   npm run bench:streaming -- --only throughput     # or latency; --rate 5000 --seconds 5
 *   npm run bench:streaming -- --quick               # smoke: 10,000 events, 1 round, 2 s latency phases
 *
 * Round k runs every variant once, in the same order, so ratios are taken inside a round. A warm-up
 * pass (small counts, not recorded) runs first. Markdown goes to stdout, progress to stderr.
 */
import { writeFileSync } from 'node:fs'

import { LocalRedis } from '../../cli/local-servers/redis-server.js'
import { captureEnv, envMarkdown } from '../lib/env.js'
import { emitResult, type Figure, figure, ratio, type Ratio } from '../lib/results.js'
import { machineState, suiteArgs } from '../lib/runner.js'
import { fmtRatio, ratios, si, sig, summarize, table } from '../lib/stats.js'
import { type SteadyResult, steadyRun } from './steady.js'
import { bullmqRun, kPayload, rawRun, sinkRun, type ThroughputResult } from './throughput.js'

const kUsage = `npm run bench:streaming -- [--rounds N] [--quick] [--only throughput,latency] [--json FILE] [--events N]
                           [--awaited-events N] [--bull-jobs N] [--rate 5000] [--seconds 5]`
const args = suiteArgs(kUsage, ['only', 'json', 'events', 'awaited-events', 'bull-jobs', 'rate', 'seconds'])
const ctx = args.ctx
const option = (name: string): string | undefined => args.string(name.slice(2))
const log = ctx.log
const only = new Set((option('--only') ?? 'throughput,latency').split(','))
const jsonFile = option('--json')
const kEvents = Number(option('--events') ?? (ctx.quick ? 10_000 : 100_000))
/** One ack in flight costs a round trip per event: a tenth of the events gives the same rate sooner. */
const kAwaitedEvents = Number(option('--awaited-events') ?? kEvents)
const kBullJobs = Number(option('--bull-jobs') ?? (ctx.quick ? 5_000 : 30_000))
const kConcurrency = 50
const kRate = Number(option('--rate') ?? 5_000)
/** The latency figures of each consumer: the metric's last word, its unit and the field of a round. */
const kLatencyFigures = [
  ['p50', 'ms', 'p50'],
  ['p99', 'ms', 'p99'],
  ['p99.9', 'ms', 'p999'],
  ['missing', 'events', 'missing'],
] as const satisfies readonly (readonly [string, string, keyof SteadyResult])[]
const kWarmupSeconds = ctx.quick ? 0.5 : 1
const kSeconds = Number(option('--seconds') ?? (ctx.quick ? 2 : 5))
const rounds = ctx.quick && !args.given('rounds') ? 1 : ctx.rounds

const env = captureEnv(['ioredis', 'bullmq', 'hdr-histogram-js', 'msgpackr'])
const before = await machineState()
const local = process.env.REDIS_URL === undefined || process.env.REDIS_URL === '' ? await LocalRedis.start() : undefined
const url = local?.url ?? process.env.REDIS_URL ?? ''
const serverVersion = await redisVersion(url)
log(`redis ${serverVersion} at ${url} (${local === undefined ? 'REDIS_URL' : 'started by the bench'})`)

interface TVariant {
  readonly name: string
  readonly label: string
  run(events: number): Promise<ThroughputResult>
  readonly events: number
}
const tVariants: TVariant[] = [
  {
    name: 'raw',
    label: 'raw ioredis XREADGROUP COUNT 100 + XACK (awaited)',
    events: kEvents,
    run: (n) => rawRun(url, n, false),
  },
  {
    name: 'raw-pipe',
    label: 'raw ioredis, XACK pipelined with the next XREADGROUP',
    events: kEvents,
    run: (n) => rawRun(url, n, true),
  },
  {
    name: 'sink',
    label: 'pulse Sink, `sink.ack(ev)` not awaited',
    events: kEvents,
    run: (n) => sinkRun(url, n, false),
  },
  {
    name: 'sink-await',
    label: 'pulse Sink, `await sink.ack(ev)`',
    events: kAwaitedEvents,
    run: (n) => sinkRun(url, n, true),
  },
  {
    name: 'bullmq',
    label: `BullMQ Worker, no-op, concurrency ${kConcurrency}`,
    events: kBullJobs,
    run: (n) => bullmqRun(url, n, kConcurrency),
  },
]
const tResults = new Map<string, ThroughputResult[]>(tVariants.map((v) => [v.name, []]))
const lResults = new Map<string, SteadyResult[]>([
  ['sink', []],
  ['reader', []],
])

try {
  if (only.has('throughput')) {
    for (const v of tVariants) {
      const r = await v.run(Math.min(v.events, 5_000))
      log(`  warm-up ${v.name}: drain ${r.drain.toFixed(0)}/s`)
    }
  }
  for (let round = 0; round < rounds; round++) {
    const tag = `round ${round + 1}/${rounds}`
    if (only.has('throughput')) {
      for (const v of tVariants) {
        const r = await v.run(v.events)
        tResults.get(v.name)?.push(r)
        log(
          `  ${tag} ${v.name}: ${r.events} events, add ${r.addMs.toFixed(0)} ms, drain ${r.drainMs.toFixed(0)} ms → ${r.drain.toFixed(0)}/s (add + drain ${r.total.toFixed(0)}/s)`,
        )
      }
    }
    if (only.has('latency')) {
      for (const kind of ['sink', 'reader'] as const) {
        const r = await steadyRun(url, kind, kRate, kWarmupSeconds, kSeconds)
        lResults.get(kind)?.push(r)
        log(
          `  ${tag} steady ${kRate}/s ${kind}: p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} p99.9 ${r.p999.toFixed(2)} max ${r.max.toFixed(1)} ms (n ${r.count}, achieved ${r.achieved.toFixed(0)}/s, missing ${r.missing})`,
        )
      }
    }
  }
} finally {
  await local?.close()
}

const after = await machineState()
const rate = (values: readonly number[]): string => {
  const s = summarize(values)
  return `${si(s.median)} [${si(s.min)}–${si(s.max)}]`
}
const ms = (values: readonly number[]): string => {
  const s = summarize(values)
  return `${sig(s.median)} [${sig(s.min)}–${sig(s.max)}]`
}
const drain = (name: string): number[] => (tResults.get(name) ?? []).map((r) => r.drain)
const total = (name: string): number[] => (tResults.get(name) ?? []).map((r) => r.total)
const md: string[] = [
  envMarkdown(env),
  '',
  `Redis: ${serverVersion} (${local === undefined ? 'REDIS_URL' : 'redis-server started by the bench, no persistence'}), on the same host.`,
  `Workload: ${kEvents} events of ${kPayload.length} B per throughput run (sink-await ${kAwaitedEvents}, BullMQ ${kBullJobs} jobs), added in pipelines of 1,000; steady ${kWarmupSeconds} s warm-up + ${kSeconds} s at ${kRate} events/s; ${rounds} round(s)${ctx.quick ? ' (--quick)' : ''}.`,
  `Machine state: at start ${before}; at end ${after}.`,
  '',
]
if (only.has('throughput')) {
  md.push(
    table(
      ['variant', 'events', 'drain events/s', 'add + drain events/s'],
      tVariants.map((v) => [`${v.name}: ${v.label}`, String(v.events), rate(drain(v.name)), rate(total(v.name))]),
    ),
    '',
    'Same-round ratios, median [min–max]:',
    '',
    table(
      ['ratio', 'drain', 'add + drain'],
      (
        [
          ['sink ÷ raw', 'sink', 'raw'],
          ['sink ÷ raw-pipe', 'sink', 'raw-pipe'],
          ['sink ÷ bullmq', 'sink', 'bullmq'],
          ['sink-await ÷ raw', 'sink-await', 'raw'],
          ['sink-await ÷ bullmq', 'sink-await', 'bullmq'],
          ['raw ÷ bullmq', 'raw', 'bullmq'],
        ] as const
      ).map(([label, a, b]) => [label, fmtRatio(ratios(drain(a), drain(b))), fmtRatio(ratios(total(a), total(b)))]),
    ),
    '',
  )
}
if (only.has('latency')) {
  const l = (name: string): SteadyResult[] => lResults.get(name) ?? []
  md.push(
    `add → handler latency at ${kRate} events/s (ms, median [min–max] over rounds):`,
    '',
    table(
      ['consumer', 'achieved add rate /s', 'p50', 'p99', 'p99.9', 'max', 'samples', 'missing'],
      ['sink', 'reader'].map((name) => [
        name,
        rate(l(name).map((r) => r.achieved)),
        ms(l(name).map((r) => r.p50)),
        ms(l(name).map((r) => r.p99)),
        ms(l(name).map((r) => r.p999)),
        ms(l(name).map((r) => r.max)),
        String(l(name).reduce((a, r) => a + r.count, 0)),
        String(l(name).reduce((a, r) => a + r.missing, 0)),
      ]),
    ),
    '',
  )
}
if (only.has('throughput')) {
  const verdict = (values: number[], target: number): string => {
    const s = summarize(values)
    return `${fmtRatio(values)} | ${s.median >= target ? (s.min >= target ? 'met (every round)' : 'met (median)') : '**missed**'}`
  }
  md.push(
    table(
      ['target', 'measured (drain), median [min–max]', 'verdict'],
      [
        [
          'sink ≥ 0.6 × raw XREADGROUP COUNT 100 + XACK',
          ...verdict(ratios(drain('sink'), drain('raw')), 0.6).split(' | '),
        ],
        ['sink ≥ 3 × BullMQ no-op, concurrency 50', ...verdict(ratios(drain('sink'), drain('bullmq')), 3).split(' | ')],
      ],
    ),
    '',
  )
}
process.stdout.write(md.join('\n'))
if (jsonFile !== undefined)
  writeFileSync(
    jsonFile,
    JSON.stringify({ env, throughput: Object.fromEntries(tResults), latency: Object.fromEntries(lResults) }, null, 2),
  )

emitResult({
  suite: 'streaming',
  env,
  quick: ctx.quick,
  partial:
    option('--only') !== undefined ||
    ['events', 'awaited-events', 'bull-jobs', 'rate', 'seconds'].some((name) => args.given(name)),
  servers: { 'redis-server': serverVersion },
  state: { start: before, end: after },
  ...streamingFigures(),
  data: { throughput: Object.fromEntries(tResults), latency: Object.fromEntries(lResults) },
})

/** Every figure the suite prints, and the targets as same-round ratios (the drain's). */
function streamingFigures(): { figures: Figure[]; ratios: Ratio[] } {
  const figures: Figure[] = []
  for (const v of tVariants) {
    if (drain(v.name).length === 0) continue
    figures.push(
      figure('drain', v.name, 'events/s', drain(v.name), { note: v.label }),
      figure('add + drain', v.name, 'events/s', total(v.name), { note: v.label }),
    )
  }
  for (const [name, rs] of lResults) {
    if (rs.length === 0) continue
    for (const [label, unit, field] of kLatencyFigures)
      figures.push(
        figure(
          `add → handler at ${kRate}/s ${label}`,
          name,
          unit,
          rs.map((r) => r[field]),
        ),
      )
  }
  const out: Ratio[] = []
  if (drain('sink').length > 0) {
    out.push(
      ratio('sink ÷ raw, drain', ratios(drain('sink'), drain('raw')), {
        op: '>=',
        value: 0.8,
        source: 'issue: sink ≥ 0.8× raw XREADGROUP + XACK (spec streaming.md: 0.6)',
      }),
      ratio('sink ÷ bullmq, drain', ratios(drain('sink'), drain('bullmq')), {
        op: '>=',
        value: 3,
        source: 'spec streaming.md',
      }),
      ratio('sink ÷ raw-pipe, drain', ratios(drain('sink'), drain('raw-pipe'))),
      ratio('sink-await ÷ raw, drain', ratios(drain('sink-await'), drain('raw'))),
      ratio('raw ÷ bullmq, drain', ratios(drain('raw'), drain('bullmq'))),
    )
  }
  return { figures, ratios: out }
}

async function redisVersion(redisUrl: string): Promise<string> {
  const { Redis } = await import('ioredis')
  const client = new Redis(redisUrl)
  try {
    const info = await client.info('server')
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'
  } finally {
    client.disconnect()
  }
}
