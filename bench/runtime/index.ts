/**
 * The runtime benchmark suite: mailbox throughput, where a message's time goes (breakdown), codec, ask
 * round trip and memory under a slow consumer, one after another, printed as markdown (machine and
 * versions first).
 *
 *   npm run bench:runtime                      # all suites, 3 rounds
 *   npm run bench:runtime -- --rounds 5        # more rounds
 *   npm run bench:runtime -- --only mailbox,ask --json results.json
 *   npm run bench:runtime -- --quick           # smaller counts: a smoke run, not for quoting
 */
import { writeFileSync } from 'node:fs'

import { captureEnv, envMarkdown } from '../lib/env.js'
import { machineState, type SuiteContext, suiteArgs, type SuiteOutput } from '../lib/runner.js'
import { askSuite } from './ask.js'
import { breakdownSuite } from './breakdown.js'
import { codecSuite } from './codec.js'
import { mailboxSuite } from './mailbox.js'
import { memorySuite } from './memory.js'

const suites: Record<string, (ctx: SuiteContext) => Promise<SuiteOutput>> = {
  mailbox: mailboxSuite,
  breakdown: breakdownSuite,
  codec: codecSuite,
  ask: askSuite,
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
process.stdout.write(`\nMachine state at start: ${await machineState()}.\n`)
const data: Record<string, unknown> = {}
for (const name of only) {
  const state = await machineState()
  const t0 = performance.now()
  const out = await suites[name]!(ctx)
  data[name] = out.data
  process.stdout.write(`\n## ${out.title}\n\nMachine state before this suite: ${state}.\n\n${out.markdown}\n`)
  ctx.log(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`)
}
process.stdout.write(`\nMachine state at end: ${await machineState()}.\n`)
ctx.log(`total: ${((performance.now() - started) / 1000).toFixed(1)} s`)
const json = option('--json')
if (json !== undefined)
  writeFileSync(json, `${JSON.stringify({ env, rounds: ctx.rounds, quick: ctx.quick, data }, null, 2)}\n`)
