/**
 * The chaos run's table and closing line, from the scenarios' results (results.ts):
 *
 *   chaos: 3 scenarios, 57 faults, 0 lost, 0 unrecorded duplicates
 *
 * `summarize` returns whether the run kept every guarantee: each expected scenario wrote its result,
 * nothing was lost and every duplicate is explained.
 */
import Table from 'cli-table3'

import { faultTotal, machine, type ScenarioResult } from './results.js'

const fmt = (n: number) => n.toLocaleString('en-US')

function faultList(faults: Readonly<Record<string, number>>): string {
  return Object.entries(faults)
    .map(([kind, n]) => `${n} ${kind}`)
    .join(', ')
}

function row(r: ScenarioResult): string[] {
  return [
    r.scenario,
    r.guarantee,
    faultTotal(r) === 0 ? '0' : `${fmt(faultTotal(r))} (${faultList(r.faults)})`,
    r.work,
    fmt(r.lost),
    `${fmt(r.duplicates)} / ${fmt(r.unrecordedDuplicates)}`,
    r.recoveryMs === undefined ? '-' : `${fmt(Math.round(r.recoveryMs))} ms`,
    `${(r.durationMs / 1000).toFixed(1)} s`,
  ]
}

export function summarize(results: readonly ScenarioResult[], expected: readonly string[]): boolean {
  const table = new Table({
    head: ['scenario', 'guarantee', 'faults', 'work', 'lost', 'duplicates: recorded / unrecorded', 'recovery', 'time'],
    style: { head: [], border: [] },
    colWidths: [11, 26, 30, 34, 6, 18, 10, 8],
    wordWrap: true,
  })
  const order = (r: ScenarioResult) => (expected.includes(r.scenario) ? expected.indexOf(r.scenario) : expected.length)
  for (const r of [...results].sort((a, b) => order(a) - order(b))) table.push(row(r))
  console.log(table.toString())
  const missing = expected.filter((name) => !results.some((r) => r.scenario === name))
  if (missing.length > 0) console.log(`no result from: ${missing.join(', ')} (the scenario failed before its checks)`)
  const sum = (pick: (r: ScenarioResult) => number) => results.reduce((a, r) => a + pick(r), 0)
  const lost = sum((r) => r.lost)
  const unrecorded = sum((r) => r.unrecordedDuplicates)
  console.log(`machine: ${machine()}`)
  console.log(
    `chaos: ${results.length} scenarios, ${fmt(sum(faultTotal))} faults, ${fmt(lost)} lost, ${fmt(unrecorded)} unrecorded duplicates`,
  )
  return missing.length === 0 && lost === 0 && unrecorded === 0
}
