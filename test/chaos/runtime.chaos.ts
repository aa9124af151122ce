/**
 * Chaos, runtime: supervision's limits hold, and the process stays up and keeps serving.
 *
 * One process (fixtures/runtime-host.ts) serves asks on a runtime of its own all along, while it goes
 * through out-of-memory crashes of an actor on a thread with `resourceLimits`, crash storms (an actor
 * that throws on most messages, `maxRestarts: 5`, beside a bystander on its thread) and supervised
 * child processes that crash 50 ms after each start (`ProcessSupervisor`, `maxRestarts: 5`).
 *
 * Checks, from what the process reports and from outside:
 * - each out-of-memory crash rejects its ask with `ActorCrashedError` (cause `ERR_WORKER_OUT_OF_MEMORY`)
 *   and the actor restarts with a fresh state and answers again;
 * - each storm restarts the actor exactly `maxRestarts` times: the next crash makes the runtime emit
 *   one `SupervisorGaveUpError` and close, after which asks reject with `ClosedError`; until then the
 *   bystander on the crashing actor's thread answers every ask;
 * - each supervisor restarts the crashing child exactly `maxRestarts` times, then gives up
 *   (`PULSE_ERR_SUPERVISOR_GAVE_UP` as `'error'` and in `closed`) and leaves no child running;
 * - the serving runtime answers every ask, before and after; the process is alive at the end and
 *   exits 0 on SIGTERM.
 * Recovery: from an out-of-memory crash until the restarted actor answered, the longest.
 */
import { fileURLToPath } from 'node:url'

import { expect, it } from 'vitest'

import { alive, spawnTs } from '../helpers/child.js'
import { chaosSize } from './long.js'
import { type ScenarioResult, writeResult } from './results.js'
import { waitFor } from './wait.js'

const size = chaosSize({ ooms: 3, storms: 2, supervisors: 1 }, { ooms: 10, storms: 6, supervisors: 3 })
const maxRestarts = 5
const entry = fileURLToPath(new URL('./fixtures/runtime-host.ts', import.meta.url))

interface Pings {
  answered: number
  failed: number
  maxMs: number
  failures: string[]
}

interface Report {
  ooms: { code: string; cause: string; fresh: boolean; recoveryMs: number }[]
  storms: {
    crashes: number
    restarts: number
    errors: string[]
    flakyAsks: { answered: number; rejected: number }
    bystander: { answered: number; failed: number; closed: number }
    closed: boolean
    afterClose: string
  }[]
  supervisors: {
    restarts: number
    crasherExits: number
    errors: string[]
    closedWith: string
    leftRunning: number
    ms: number
  }[]
  rssMb: number
  pings: Pings
}

const sum = <T>(items: readonly T[], pick: (item: T) => number) => items.reduce((a, item) => a + pick(item), 0)

/** Limits that did not hold: restarts past the limit, a give-up that was not reported, a crash not reported as one. */
function breaches(report: Report): number {
  const storms = sum(report.storms, (s) => Math.max(0, s.restarts - maxRestarts) + (s.errors.length === 1 ? 0 : 1))
  const supervisors = sum(
    report.supervisors,
    (s) => Math.max(0, s.restarts - maxRestarts) + (s.errors.length === 1 ? 0 : 1) + s.leftRunning,
  )
  const ooms = sum(report.ooms, (o) => (o.code === 'PULSE_ERR_ACTOR_CRASHED' && o.fresh ? 0 : 1))
  return storms + supervisors + ooms
}

function runtimeResult(report: Report, final: Pings, durationMs: number, exit: number | string): ScenarioResult {
  const n = (x: number) => x.toLocaleString('en-US')
  const bystanderFailed = sum(report.storms, (s) => s.bystander.failed)
  return {
    scenario: 'runtime',
    guarantee: 'restart limits hold; the process keeps serving',
    faults: {
      oom: report.ooms.length,
      throw: sum(report.storms, (s) => s.crashes),
      'child crash': sum(report.supervisors, (s) => s.crasherExits),
    },
    work: `${n(final.answered)} asks served beside ${report.storms.length} storms and ${report.supervisors.length} supervisors, ${n(sum(report.storms, (s) => s.bystander.answered))} bystander asks`,
    lost: final.failed + bystanderFailed,
    duplicates: 0,
    unrecordedDuplicates: breaches(report),
    recoveryMs: Math.max(0, ...report.ooms.map((o) => o.recoveryMs)),
    durationMs,
    details: {
      'oom: ask errors': [...new Set(report.ooms.map((o) => `${o.code} (${o.cause})`))].join(', '),
      'oom: restarted fresh': report.ooms.filter((o) => o.fresh).length,
      'storm: restarts per storm': report.storms.map((s) => s.restarts).join(', '),
      'storm: crashes per storm': report.storms.map((s) => s.crashes).join(', '),
      'storm: errors': report.storms.map((s) => s.errors.join('+')).join(', '),
      'storm: asks after the give-up': [...new Set(report.storms.map((s) => s.afterClose))].join(', '),
      'storm: flaky asks answered / rejected': `${sum(report.storms, (s) => s.flakyAsks.answered)} / ${sum(report.storms, (s) => s.flakyAsks.rejected)}`,
      'storm: bystander asks failed': bystanderFailed,
      'storm: bystander asks closed at the give-up': sum(report.storms, (s) => s.bystander.closed),
      'supervisor: restarts': report.supervisors.map((s) => s.restarts).join(', '),
      'supervisor: closed with': [...new Set(report.supervisors.map((s) => s.closedWith))].join(', '),
      'supervisor: children left running': sum(report.supervisors, (s) => s.leftRunning),
      'supervisor: ms until it gave up': Math.max(0, ...report.supervisors.map((s) => s.ms)),
      'serving: asks failed': final.failed,
      'serving: slowest ask ms': Math.round(final.maxMs),
      'host rss MiB after the faults': report.rssMb,
      'host exit on SIGTERM': exit,
    },
  }
}

it('runtime: out-of-memory actors, crash storms and crashing children stay within their supervisors limits while the process keeps serving', async () => {
  const started = Date.now()
  const host = spawnTs(entry, [JSON.stringify(size)])
  try {
    const line = await host.waitForLine(/^result /, 120_000)
    const report = JSON.parse(line.slice('result '.length)) as Report
    const pid = host.process.pid ?? -1
    // Still serving after every fault: the answered count moves on.
    await waitFor(
      () => host.lines.some((l) => l.startsWith('pings ') && Number(l.slice(6)) > report.pings.answered + 20),
      { timeoutMs: 10_000, what: 'the host to keep answering' },
    )
    const up = alive(pid)
    host.process.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const hung = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('hung'), 15_000)))
    const exit = await Promise.race([host.exited, hung]).finally(() => clearTimeout(timer))
    const finalLine = host.lines.find((l) => l.startsWith('final ')) ?? 'final {"answered":0,"failed":-1,"maxMs":0}'
    const final = JSON.parse(finalLine.slice('final '.length)) as Pings
    const result = runtimeResult(report, final, Date.now() - started, exit)
    writeResult(result)

    expect(up, 'the host alive after the faults').toBe(true)
    expect(exit, 'the host exit on SIGTERM').toBe(0)
    expect(final.failures, 'serving asks that failed').toEqual([])
    for (const oom of report.ooms) expect(oom).toMatchObject({ code: 'PULSE_ERR_ACTOR_CRASHED', fresh: true })
    expect(report.ooms.map((o) => o.cause)).toEqual(report.ooms.map(() => 'ERR_WORKER_OUT_OF_MEMORY'))
    for (const storm of report.storms) {
      expect(storm).toMatchObject({
        restarts: maxRestarts,
        crashes: maxRestarts + 1,
        errors: ['PULSE_ERR_SUPERVISOR_GAVE_UP'],
        closed: true,
        afterClose: 'PULSE_ERR_CLOSED',
      })
      expect(storm.bystander.failed, 'bystander asks that failed before the give-up').toBe(0)
      expect(storm.bystander.answered).toBeGreaterThan(0)
    }
    for (const sup of report.supervisors) {
      expect(sup).toMatchObject({
        restarts: maxRestarts,
        crasherExits: maxRestarts + 1,
        errors: ['PULSE_ERR_SUPERVISOR_GAVE_UP'],
        closedWith: 'PULSE_ERR_SUPERVISOR_GAVE_UP',
        leftRunning: 0,
      })
    }
  } finally {
    if (alive(host.process.pid ?? -1)) host.process.kill('SIGKILL')
    await host.exited
  }
})
