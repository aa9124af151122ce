/**
 * What each scenario observed, written as JSON under test/chaos/results/ (git-ignored) before its
 * invariants are asserted, so that the summary shows the figures of a failing run too.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const resultsDir = fileURLToPath(new URL('./results/', import.meta.url))

export interface ScenarioResult {
  /** `jobs`, `streaming`, `rmap`. */
  readonly scenario: string
  /** The guarantee it checks, in a few words. */
  readonly guarantee: string
  /** Faults injected, by kind. */
  readonly faults: Readonly<Record<string, number>>
  /** The work done, in a few words ("3,000 jobs, 3,212 attempts"). */
  readonly work: string
  /** Units of work missing at the end (jobs not completed, events never recorded, increments missing). */
  readonly lost: number
  /** Extra executions that the system's own records explain (a reaped lease, a redelivery). */
  readonly duplicates: number
  /** Extra executions that nothing explains: always a defect. */
  readonly unrecordedDuplicates: number
  /** The longest recovery measured (a lapsed lease left unreaped, a dead consumer's events unclaimed, a replica behind). */
  readonly recoveryMs: number | undefined
  readonly durationMs: number
  /** Everything else worth reading, for RELIABILITY.md. */
  readonly details: Readonly<Record<string, number | string>>
  /** What happened when (`+12.3 s kill`), faults and observations, to read a failure against. */
  readonly timeline?: readonly string[] | undefined
}

export function writeResult(result: ScenarioResult): void {
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(join(resultsDir, `${result.scenario}.json`), `${JSON.stringify(result, null, 2)}\n`)
}

export function readResults(): ScenarioResult[] {
  let files: string[]
  try {
    files = readdirSync(resultsDir).filter((f) => f.endsWith('.json'))
  } catch {
    return []
  }
  return files.sort().map((f) => JSON.parse(readFileSync(join(resultsDir, f), 'utf8')) as ScenarioResult)
}

export function clearResults(): void {
  rmSync(resultsDir, { recursive: true, force: true })
}

/** The machine, for the summary: `2 × <cpu model>, 23 GiB, node v20`. */
export function machine(): string {
  const list = cpus()
  const model = list[0]?.model.trim() ?? 'unknown cpu'
  return `${list.length} × ${model}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`
}

export function faultTotal(result: ScenarioResult): number {
  return Object.values(result.faults).reduce((a, b) => a + b, 0)
}
