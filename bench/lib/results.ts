/**
 * A suite's results as data: one JSON file per run with the machine, the versions (Node, the servers, the
 * peers), the command and every figure the suite printed, so plots and tables are made from files instead
 * of copied from a terminal. `bench/plot.ts` reads them.
 *
 * Where a file goes: a full run of a suite's defaults replaces the suite's file in `bench/results/` (one
 * current result per suite, `<suite>-<date>.json`, the one to commit); a `--quick` run goes to
 * `bench/results/quick/` and a run with `--only` (some phases) or other sizes to `bench/results/partial/`,
 * neither committed. `PULSE_BENCH_RESULTS_DIR` puts every kind in one other directory.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

import type { BenchEnv } from './env.js'
import { summarize } from './stats.js'

/** The directory of the committed results (`bench/results/`). */
export const kResultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results')

/** What a figure and a ratio hold: a value per round, their median [min–max], and the bound it is read against. */
export interface Measured {
  /** One value per round (empty when only the summary is known). */
  readonly values: readonly number[]
  readonly median: number
  readonly min: number
  readonly max: number
  /** A bound the median is read against (e.g. p50 ≤ 2 ms), and whether the median meets it. */
  readonly target?: Target
  readonly met?: boolean
  /** Which of the file's `runs` it comes from, when the file gathers several (a transcribed file). */
  readonly run?: string
  readonly note?: string
}

/** One measured quantity of one variant. */
export interface Figure extends Measured {
  /** What was measured, e.g. 'bulk e2e', 'steady 1000/s p99'. */
  readonly metric: string
  /** Whose figure: 'pulse', 'graphile-worker', 'raw', … */
  readonly variant: string
  /** 'jobs/s', 'events/s', 'ms', 'µs', 'ns', 'MB', … */
  readonly unit: string
}

/** A same-round ratio (a ÷ b in each round). */
export interface Ratio extends Measured {
  /** e.g. 'pulse ÷ graphile-worker, bulk e2e'. */
  readonly name: string
}

export interface Target {
  readonly op: '>=' | '<='
  readonly value: number
  /** Where the target is set (a spec section, an issue). */
  readonly source?: string
}

export interface SuiteResult {
  readonly schema: 'pulse-bench-result/1'
  readonly suite: string
  /** When the run started (ISO 8601, UTC). */
  readonly date: string
  readonly quick: boolean
  /** Some phases only (`--only`) or sizes other than the defaults. */
  readonly partial: boolean
  /** The command that produced it. */
  readonly command: string
  /** 'this run', or where the figures were taken from when they were not written by a run. */
  readonly source: string
  readonly commit: string
  readonly dirty: boolean
  readonly machine: {
    readonly cpuModel: string
    readonly cpuMHz: string
    readonly cores: number
    readonly memoryGiB: number
    readonly platform: string
    readonly kernel: string
    readonly loadAvgStart: string
    readonly loadAvgEnd: string
    /** The machine state the suite printed (load average, two-thread spin round trip), when it did. */
    readonly state?: { readonly start?: string; readonly end?: string }
  }
  readonly versions: {
    readonly node: string
    readonly v8: string
    /** Server versions: 'redis-server', 'postgres'. */
    readonly servers: Readonly<Record<string, string>>
    /** Package versions: the peers and the libraries the suite measures with. */
    readonly packages: Readonly<Record<string, string>>
  }
  /**
   * The runs a file gathers when it was not written by one run (figures transcribed from BENCHMARKS.md):
   * each figure's `run` names one. Absent for a file a suite wrote.
   */
  readonly runs?: readonly {
    readonly id: string
    readonly date: string
    readonly command: string
    readonly note?: string
  }[]
  readonly figures: readonly Figure[]
  readonly ratios: readonly Ratio[]
  /** The suite's own per-round data, as it had it. */
  readonly data?: unknown
}

/** A figure from per-round values (with the bound it is read against, if any). */
export function figure(
  metric: string,
  variant: string,
  unit: string,
  values: readonly number[],
  extra: { readonly target?: Target; readonly note?: string } = {},
): Figure {
  return { metric, variant, unit, ...measured(values, extra.target, extra.note) }
}

/** A same-round ratio from per-round values, read against `target` when given. */
export function ratio(name: string, values: readonly number[], target?: Target, note?: string): Ratio {
  return { name, ...measured(values, target, note) }
}

function measured(values: readonly number[], target: Target | undefined, note: string | undefined): Measured {
  const s = summarize(values)
  return {
    values: [...values],
    ...s,
    ...(target === undefined ? {} : { target, met: meets(s.median, target) }),
    ...(note === undefined ? {} : { note }),
  }
}

export function meets(value: number, target: Target): boolean {
  return target.op === '>=' ? value >= target.value : value <= target.value
}

/**
 * Figures from a round-robin's results (variant → one value per round): a number per round gives one
 * figure (`unit`); an object per round gives one per numeric field (`units[field]`, fields without a unit
 * skipped).
 */
export function figuresFromRounds(
  metric: string,
  results: Readonly<Record<string, readonly unknown[]>>,
  unit: string,
  units: Readonly<Record<string, string>> = {},
): Figure[] {
  const out: Figure[] = []
  for (const [variant, rounds] of Object.entries(results)) {
    if (rounds.length === 0) continue
    if (rounds.every((r) => typeof r === 'number')) {
      out.push(figure(metric, variant, unit, rounds))
      continue
    }
    for (const [field, fieldUnit] of Object.entries(units)) {
      const values = rounds.map((r) => (r as Record<string, unknown>)[field])
      if (values.every((v) => typeof v === 'number')) out.push(figure(`${metric} ${field}`, variant, fieldUnit, values))
    }
  }
  return out
}

export interface ResultInput {
  readonly suite: string
  readonly env: BenchEnv
  readonly quick: boolean
  readonly partial?: boolean
  readonly servers?: Readonly<Record<string, string>>
  readonly state?: { readonly start?: string; readonly end?: string }
  readonly figures: readonly Figure[]
  readonly ratios?: readonly Ratio[]
  readonly data?: unknown
}

/** The result of this run (the machine and versions from `env`, the command from argv). */
export function suiteResult(input: ResultInput): SuiteResult {
  const { env } = input
  return {
    schema: 'pulse-bench-result/1',
    suite: input.suite,
    date: env.date,
    quick: input.quick,
    partial: input.partial ?? false,
    command: commandLine(),
    source: 'this run',
    commit: env.commit,
    dirty: env.dirty,
    machine: {
      cpuModel: env.cpuModel,
      cpuMHz: env.cpuMHz,
      cores: env.cores,
      memoryGiB: env.memoryGiB,
      platform: env.platform,
      kernel: env.kernel,
      loadAvgStart: env.loadAvg,
      loadAvgEnd: os
        .loadavg()
        .map((n) => n.toFixed(2))
        .join(' '),
      ...(input.state === undefined ? {} : { state: input.state }),
    },
    versions: { node: env.node, v8: env.v8, servers: input.servers ?? {}, packages: env.packages },
    figures: input.figures,
    ratios: input.ratios ?? [],
    ...(input.data === undefined ? {} : { data: input.data }),
  }
}

/** Where a result of this kind goes (see the module comment). */
export function resultsDir(kind: { readonly quick: boolean; readonly partial: boolean }): string {
  const override = process.env.PULSE_BENCH_RESULTS_DIR
  if (override !== undefined && override !== '') return override
  if (kind.quick) return join(kResultsDir, 'quick')
  if (kind.partial) return join(kResultsDir, 'partial')
  return kResultsDir
}

/**
 * Writes the result as `<dir>/<suite>-<date>.json` and removes the suite's older files there (one
 * current result per suite). Returns the path. Maps in `data` are written as objects.
 */
export function writeResult(result: SuiteResult, dir = resultsDir(result)): string {
  mkdirSync(dir, { recursive: true })
  const stamp = result.date.replace(/\.\d+Z$/, 'Z').replaceAll(':', '-')
  const file = join(dir, `${result.suite}-${stamp}.json`)
  for (const name of readdirSync(dir)) {
    if (name.startsWith(`${result.suite}-`) && name.endsWith('.json') && join(dir, name) !== file)
      rmSync(join(dir, name))
  }
  const text = JSON.stringify(
    result,
    (_k, v: unknown) => (v instanceof Map ? (Object.fromEntries(v) as unknown) : v),
    2,
  )
  writeFileSync(file, `${text}\n`)
  process.stderr.write(`results: ${relative(process.cwd(), file)}\n`)
  return file
}

/** Builds the result and writes it where its kind goes. */
export function emitResult(input: ResultInput): string {
  return writeResult(suiteResult(input))
}

/** The command that runs this process: the npm script with its arguments, or tsx and the file. */
export function commandLine(argv: readonly string[] = process.argv): string {
  const args = argv.slice(2).join(' ')
  const script = process.env.npm_lifecycle_event
  if (script !== undefined && script.startsWith('bench')) return `npm run ${script}${args === '' ? '' : ` -- ${args}`}`
  const file = argv[1] === undefined ? '?' : relative(process.cwd(), argv[1])
  return `npx tsx ${file}${args === '' ? '' : ` ${args}`}`
}
