/**
 * `npm run bench`: every suite, one after another, each in a process of its own (runtime, rmap,
 * streaming, pool, jobs, bus). Each suite prints its markdown to stdout and writes its JSON result
 * (bench/lib/results.ts): a full run replaces the suite's file in bench/results/, a `--quick` run goes to
 * bench/results/quick/. A suite that fails does not stop the others; the exit code says whether all passed.
 *
 *   npm run bench                          # every suite at its defaults (about 30 minutes on 2 cores)
 *   npm run bench -- --quick               # smoke: small sizes and 1 round each (a few minutes), not for quoting
 *   npm run bench -- --only jobs,bus       # some suites
 *   npm run bench -- --rounds 5            # passed to every suite (ROUNDS for rmap and pool)
 *
 * Then `npm run bench:plot` draws bench/plots/ from the results.
 */
import { spawn } from 'node:child_process'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const kSuites = ['runtime', 'rmap', 'streaming', 'pool', 'jobs', 'bus'] as const
type Suite = (typeof kSuites)[number]
/** Suites that take their round count from the environment rather than `--rounds`. */
const kEnvRounds: ReadonlySet<Suite> = new Set(['rmap', 'pool'])

const kUsage = `npm run bench -- [--quick] [--only ${kSuites.join(',')}] [--rounds N]`
const benchDir = dirname(fileURLToPath(import.meta.url))

let values: { quick?: boolean; only?: string; rounds?: string; help?: boolean }
try {
  values = parseArgs({
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string' },
      rounds: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }).values
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n\n${kUsage}\n`)
  process.exit(2)
}
if (values.help === true) {
  process.stdout.write(`${kUsage}\n`)
  process.exit(0)
}
const only = values.only?.split(',') ?? [...kSuites]
const unknown = only.filter((name) => !(kSuites as readonly string[]).includes(name))
if (unknown.length > 0) {
  process.stderr.write(`unknown suite(s) ${unknown.join(', ')}; known: ${kSuites.join(', ')}\n`)
  process.exit(2)
}
const quick = values.quick === true
// --quick: one round everywhere (the suites' own quick sizes are small; runtime and jobs keep 3 rounds otherwise).
const rounds = values.rounds ?? (quick ? '1' : undefined)

interface Outcome {
  readonly suite: Suite
  readonly code: number | null
  readonly seconds: number
}

const outcomes: Outcome[] = []
for (const suite of kSuites.filter((s) => only.includes(s))) {
  const args = [join(benchDir, suite, 'index.ts')]
  if (quick) args.push('--quick')
  const env: NodeJS.ProcessEnv = { ...process.env, npm_lifecycle_event: `bench:${suite}` }
  if (rounds !== undefined) {
    if (kEnvRounds.has(suite)) env.ROUNDS = rounds
    else args.push('--rounds', rounds)
  }
  process.stderr.write(`\n=== ${suite}: tsx ${args.map((a) => relative(process.cwd(), a) || a).join(' ')}\n`)
  process.stdout.write(`\n# ${suite}\n\n`)
  const t0 = performance.now()
  const code = await run(process.execPath, ['--import', 'tsx', ...args], env)
  const seconds = (performance.now() - t0) / 1000
  outcomes.push({ suite, code, seconds })
  process.stderr.write(
    `=== ${suite}: ${code === 0 ? 'done' : `FAILED (exit ${String(code)})`} in ${seconds.toFixed(0)} s\n`,
  )
}

process.stderr.write('\nsuite      exit  seconds\n')
for (const o of outcomes)
  process.stderr.write(`${o.suite.padEnd(10)} ${String(o.code).padStart(4)}  ${o.seconds.toFixed(0).padStart(7)}\n`)
const failed = outcomes.filter((o) => o.code !== 0)
process.stderr.write(
  failed.length === 0
    ? `all ${outcomes.length} suites passed; results in ${relative(process.cwd(), join(benchDir, 'results', quick ? 'quick' : ''))}/\n`
    : `${failed.length} suite(s) failed: ${failed.map((o) => o.suite).join(', ')}\n`,
)
process.exitCode = failed.length === 0 ? 0 : 1

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', env })
    child.once('error', reject)
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? null : 128)))
  })
}
