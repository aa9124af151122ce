/**
 * Where a probe's CPU went, from /proc: each thread of this process, and each PostgreSQL backend while
 * a phase runs, named by its application, type and the statement it last ran (backends come and go with
 * the phase's queue, so they are sampled while they live).
 */
import { readdirSync, readFileSync } from 'node:fs'

import type pg from 'pg'

import { cpuMicros, postgresPids } from '../../lib/proc-cpu.js'

/** CPU µs so far of each thread of this process, by "<name> <tid>". */
export function threadCpu(): Map<string, number> {
  return new Map(readdirSync('/proc/self/task').map((t) => [threadName(t), cpuMicros(`/proc/self/task/${t}/stat`)]))
}

function threadName(tid: string): string {
  try {
    return `${readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()} ${tid}`
  } catch {
    return tid
  }
}

/** The CPU µs each thread used between two `threadCpu()` readings. */
export function threadCpuSince(before: Map<string, number>): Map<string, number> {
  return new Map([...threadCpu()].map(([t, us]) => [t, us - (before.get(t) ?? 0)]))
}

/** Runs `run`, sampling the server's backends every `everyMs` through `admin`; their CPU µs by label. */
export async function backendCpu<T>(
  admin: pg.Client,
  run: () => Promise<T>,
  everyMs = 20,
): Promise<{ result: T; backends: Map<string, number> }> {
  const first = new Map(postgresPids().map((p) => [p, cpuMicros(`/proc/${p}/stat`)]))
  const last = new Map<number, number>()
  const labels = new Map<number, string>()
  const sample = (): void => {
    for (const p of postgresPids()) {
      if (!first.has(p)) first.set(p, 0)
      last.set(p, cpuMicros(`/proc/${p}/stat`))
    }
    void admin
      .query<{ pid: number; label: string }>(
        "SELECT pid, concat_ws(' ', nullif(application_name, ''), backend_type, left(regexp_replace(query, '\\s+', ' ', 'g'), 32)) AS label FROM pg_stat_activity",
      )
      .then(({ rows }) => rows.forEach((r) => labels.set(r.pid, r.label)))
      .catch(() => undefined)
  }
  const timer = setInterval(sample, everyMs)
  try {
    const result = await run()
    sample()
    const backends = new Map<string, number>()
    for (const [p, us] of last) {
      const label = labels.get(p) ?? `pid ${p}`
      backends.set(label, (backends.get(label) ?? 0) + us - (first.get(p) ?? 0))
    }
    return { result, backends }
  } finally {
    clearInterval(timer)
  }
}

/** `entries` of at least `minPerJob` µs per job, largest first, as "name: x µs". */
export function perJobList(entries: Iterable<readonly [string, number]>, jobs: number, minPerJob = 0.5): string[] {
  return [...entries]
    .filter(([, us]) => us / jobs >= minPerJob)
    .sort((x, y) => y[1] - x[1])
    .map(([k, us]) => `${k}: ${(us / jobs).toFixed(1)} µs`)
}
