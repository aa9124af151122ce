/**
 * The runtime benchmark suite: mailbox throughput, where a message's time goes (breakdown), codec, ask
 * round trip, where one ask's time goes (ask-breakdown), idle CPU and memory under a slow consumer, one
 * after another, printed as markdown (machine and versions first).
 *
 *   npm run bench:runtime                      # all suites, 3 rounds
 *   npm run bench:runtime -- --rounds 5        # more rounds
 *   npm run bench:runtime -- --only mailbox,ask --json results.json
 *   npm run bench:runtime -- --quick           # smaller counts: a smoke run, not for quoting
 */
import { writeFileSync } from 'node:fs'

import { captureEnv, envMarkdown } from '../lib/env.js'
import { emitResult, type Figure, figure, figuresFromRounds, ratio, type Ratio } from '../lib/results.js'
import { machineState, type SuiteContext, suiteArgs, type SuiteOutput } from '../lib/runner.js'
import { askSuite } from './ask.js'
import { askBreakdownSuite } from './ask-breakdown.js'
import { breakdownSuite } from './breakdown.js'
import { codecSuite } from './codec.js'
import { idleSuite, kIdleRuntime } from './idle.js'
import { mailboxSuite } from './mailbox.js'
import { memorySuite } from './memory.js'

const suites: Record<string, (ctx: SuiteContext) => Promise<SuiteOutput>> = {
  mailbox: mailboxSuite,
  breakdown: breakdownSuite,
  codec: codecSuite,
  ask: askSuite,
  'ask-breakdown': askBreakdownSuite,
  idle: idleSuite,
  memory: memorySuite,
}

const kUsage = `npm run bench:runtime -- [--rounds N] [--quick] [--only ${Object.keys(suites).join(',')}] [--json FILE]`
const args = suiteArgs(kUsage, ['only', 'json'])
const option = (flag: string) => args.string(flag.slice(2))
const only = option('--only')?.split(',') ?? Object.keys(suites)
const unknown = only.filter((name) => !(name in suites))
if (unknown.length > 0)
  throw new Error(`unknown suite(s) ${unknown.join(', ')}; known: ${Object.keys(suites).join(', ')}`)

const ctx = args.ctx
const env = captureEnv(['msgpackr', 'comlink', 'hdr-histogram-js', 'tsx'])
const started = performance.now()
process.stdout.write(
  `# Runtime benchmarks\n\n${envMarkdown(env)}\n\nRounds: ${ctx.rounds}${ctx.quick ? ' (--quick: smaller counts, not for quoting)' : ''}.\n`,
)
const stateStart = await machineState()
process.stdout.write(`\nMachine state at start: ${stateStart}.\n`)
const data: Record<string, unknown> = {}
for (const name of only) {
  const state = await machineState()
  const t0 = performance.now()
  const out = await suites[name]!(ctx)
  data[name] = out.data
  process.stdout.write(`\n## ${out.title}\n\nMachine state before this suite: ${state}.\n\n${out.markdown}\n`)
  ctx.log(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`)
}
const stateEnd = await machineState()
process.stdout.write(`\nMachine state at end: ${stateEnd}.\n`)
ctx.log(`total: ${((performance.now() - started) / 1000).toFixed(1)} s`)
const json = option('--json')
if (json !== undefined)
  writeFileSync(json, `${JSON.stringify({ env, rounds: ctx.rounds, quick: ctx.quick, data }, null, 2)}\n`)
emitResult({
  suite: 'runtime',
  env,
  quick: ctx.quick,
  partial: option('--only') !== undefined,
  state: { start: stateStart, end: stateEnd },
  ...runtimeFigures(data),
  data,
})

type Rounds = Record<string, readonly unknown[]>

/** The figures the sub-suites print, from their per-round data (see each suite's `data`). */
function runtimeFigures(all: Record<string, unknown>): { figures: Figure[]; ratios: Ratio[] } {
  const figures: Figure[] = []
  const out: Ratio[] = []
  const mailbox = all.mailbox as Rounds | undefined
  if (mailbox !== undefined) {
    figures.push(
      ...figuresFromRounds('mailbox', mailbox, 'msgs/s', { rate: 'msgs/s', wakeups: 'count', fullRetries: 'count' }),
    )
    const rate = (name: string) => (mailbox[name] ?? []).map((r) => (r as { rate: number }).rate)
    const per = (a: string, b: string) => rate(a).map((x, i) => x / (rate(b)[i] ?? Number.NaN))
    const spec = 'spec runtime.md, Performance'
    out.push(
      ratio('mailbox tellMany ÷ postMessage one at a time, 64 B', per('tellMany 64B', 'pm 64B'), {
        op: '>=',
        value: 10,
        source: spec,
      }),
      ratio('mailbox tellMany ÷ postMessage arrays of 100, 64 B', per('tellMany 64B', 'pm×100 64B'), {
        op: '>=',
        value: 1,
        source: spec,
      }),
      ratio('mailbox tellMany ÷ bare SPSC ring, 64 B', per('tellMany 64B', 'ring 64B'), {
        op: '>=',
        value: 0.5,
        source: spec,
      }),
    )
  }
  const ask = all.ask as Rounds | undefined
  if (ask !== undefined) {
    figures.push(...figuresFromRounds('round trip', ask, 'µs', { p50: 'µs', p99: 'µs', p999: 'µs' }))
    const at = (name: string, p: 'p50' | 'p99') => (ask[name] ?? []).map((r) => (r as Record<typeof p, number>)[p])
    const per = (a: string, b: string, p: 'p50' | 'p99') => at(a, p).map((x, i) => x / (at(b, p)[i] ?? Number.NaN))
    const [askName, pmName] = Object.keys(ask)
    if (askName !== undefined && pmName !== undefined)
      out.push(
        ratio(`${askName} p50 ÷ ${pmName} p50`, per(askName, pmName, 'p50'), {
          op: '<=',
          value: 0.5,
          source: 'issue: ask p50 ≤ 0.5× a postMessage echo',
        }),
        ratio(`${askName} p99 ÷ ${pmName} p99`, per(askName, pmName, 'p99'), {
          op: '<=',
          value: 1,
          source: 'issue: ask p99 no worse than the echo',
        }),
      )
  }
  const idle = all.idle as Record<string, readonly number[]> | undefined
  if (idle !== undefined) {
    figures.push(...figuresFromRounds('idle CPU', idle, '% of a core'))
    out.push(
      ratio('idle runtime CPU, % of one core', idle[kIdleRuntime] ?? [], {
        op: '<=',
        value: 1,
        source: 'issue: idle CPU of an idle runtime within 1 % of a core',
      }),
    )
  }
  const memory = all.memory as Record<string, readonly { samples: readonly { rssMB: number }[] }[]> | undefined
  if (memory !== undefined) {
    for (const [variant, runs] of Object.entries(memory)) {
      const end = runs.map((r) => r.samples.at(-1)?.rssMB ?? Number.NaN)
      figures.push(
        figure('memory rss at end', variant, 'MB', end),
        figure(
          'memory rss growth',
          variant,
          'MB',
          runs.map((r, i) => (end[i] ?? Number.NaN) - (r.samples[0]?.rssMB ?? Number.NaN)),
        ),
      )
    }
  }
  const codec = all.codec as Rounds | undefined
  if (codec !== undefined)
    figures.push(...figuresFromRounds('codec', codec, 'ns', { encodeNs: 'ns', decodeNs: 'ns', bytes: 'B' }))
  const breakdown = all.breakdown as Rounds | undefined
  if (breakdown !== undefined) figures.push(...figuresFromRounds('breakdown', breakdown, 'ns'))
  return { figures, ratios: out }
}
