/**
 * The round-robin runner. Round k runs every variant once, in the same order, so variants see the same
 * machine conditions and ratios are taken inside one round. A warm-up pass (not recorded) runs first.
 */
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

import os from 'node:os'

import { spinRoundTripNs } from './contention.js'
import { type BenchEnv, captureEnv, envMarkdown } from './env.js'

export interface Variant<R> {
  readonly name: string
  run(round: number): Promise<R>
}

export interface RunOptions {
  readonly rounds: number
  /** Runs every variant once before the recorded rounds. @default true */
  readonly warmup?: boolean
  readonly log?: (line: string) => void
}

/** Results by variant name, one entry per round. */
export type RoundResults<R> = Map<string, R[]>

export async function roundRobin<R>(variants: readonly Variant<R>[], options: RunOptions): Promise<RoundResults<R>> {
  const log = options.log ?? logLine
  const results: RoundResults<R> = new Map(variants.map((v) => [v.name, []]))
  if (options.warmup ?? true) {
    for (const v of variants) await v.run(-1)
    log('  warm-up done')
  }
  for (let round = 0; round < options.rounds; round++) {
    for (const v of variants) {
      const r = await v.run(round)
      results.get(v.name)?.push(r)
      log(`  round ${round + 1}/${options.rounds} ${v.name}: ${describe(r)}`)
    }
  }
  return results
}

/** The recorded values of one variant (throws on a name typo, which is a bug in the suite). */
export function series<R>(results: RoundResults<R>, name: string): R[] {
  const values = results.get(name)
  if (values === undefined) throw new Error(`no variant named ${name}`)
  return values
}

export interface SuiteOutput {
  readonly title: string
  readonly markdown: string
  readonly data: unknown
}

export interface SuiteContext {
  readonly rounds: number
  readonly quick: boolean
  readonly log: (line: string) => void
}

/** Command line shared by the suites: `--rounds N`, `--quick` (smaller counts, for smoke runs). */
export function suiteContext(argv: readonly string[] = process.argv.slice(2)): SuiteContext {
  const at = argv.indexOf('--rounds')
  const rounds = at >= 0 ? Number(argv[at + 1]) : 3
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`--rounds wants a positive integer (got ${argv[at + 1]})`)
  return { rounds, quick: argv.includes('--quick'), log: logLine }
}

/** A suite's command line, parsed strictly: the shared `--rounds N` and `--quick`, and its own options. */
export interface SuiteArgs {
  readonly ctx: SuiteContext
  /** The value of a string option, undefined when not given. */
  string(name: string): string | undefined
  /** Whether an option was given. */
  given(name: string): boolean
}

/**
 * Parses `argv` with node:util `parseArgs` (strict): `--help` prints `usage` and exits 0; an unknown
 * option or a missing value prints the error and `usage` and exits 2 (before, a typo — or `--help` —
 * was ignored and the whole suite ran). `options` are the suite's own string options, without `--`.
 */
export function suiteArgs(
  usage: string,
  options: readonly string[],
  argv: readonly string[] = process.argv.slice(2),
): SuiteArgs {
  const config = Object.fromEntries([...options, 'rounds'].map((name) => [name, { type: 'string' as const }]))
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: [...argv],
      options: { ...config, quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${usage}\n`)
    process.exit(2)
  }
  if (values.help === true) {
    process.stdout.write(`${usage}\n`)
    process.exit(0)
  }
  const ctx = suiteContext(argv)
  return {
    ctx,
    string: (name) => (typeof values[name] === 'string' ? values[name] : undefined),
    given: (name) => values[name] !== undefined,
  }
}

/** Whether the module with this URL is the entry script (`tsx bench/runtime/x.ts`). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1]
  return entry !== undefined && pathToFileURL(entry).href === moduleUrl
}

/** How busy the machine is now: load average and the two-thread spin round trip (see contention.ts). */
export async function machineState(): Promise<string> {
  const rtt = await spinRoundTripNs()
  const load = os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ')
  return `load average ${load}; two-thread spin round trip ${rtt < 10_000 ? `${rtt.toFixed(0)} ns` : `${(rtt / 1000).toFixed(1)} µs`}`
}

/** Runs one suite as a script: environment, then its markdown. */
export async function runAlone(
  suite: (ctx: SuiteContext) => Promise<SuiteOutput>,
  packages: readonly string[] = [],
): Promise<BenchEnv> {
  const env = captureEnv(packages)
  const ctx = suiteContext()
  const before = await machineState()
  const out = await suite(ctx)
  const after = await machineState()
  process.stdout.write(
    `${envMarkdown(env)}\n\nMachine state: at start ${before}; at end ${after}.\n\n## ${out.title}\n\n${out.markdown}\n`,
  )
  return env
}

function logLine(line: string): void {
  process.stderr.write(`${line}\n`)
}

function describe(r: unknown): string {
  if (typeof r === 'number') return r.toFixed(0)
  return JSON.stringify(r, (_k, v: unknown) =>
    typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v,
  )
}
