/**
 * CPU time of processes and threads from /proc (Linux), for the probes that say where a run's CPU went.
 * `utime + stime` in clock ticks of 1/100 s (USER_HZ), so a figure is good to 10 ms.
 */
import { readdirSync, readFileSync } from 'node:fs'

const kMicrosPerTick = 10_000

/**
 * CPU time so far, in µs, of the process or thread whose `stat` file this is; 0 once it is gone.
 * `reapedChildren`: also the CPU of its children that exited and were waited for (`cutime + cstime`).
 */
export function cpuMicros(statFile: string, reapedChildren = false): number {
  try {
    const stat = readFileSync(statFile, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const own = Number(fields[11]) + Number(fields[12])
    return (reapedChildren ? own + Number(fields[13]) + Number(fields[14]) : own) * kMicrosPerTick
  } catch {
    return 0
  }
}

/** The pids of the PostgreSQL server's processes (postmaster, backends, helpers) alive now. */
export function postgresPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/comm`, 'utf8') === 'postgres\n'
      } catch {
        return false
      }
    })
    .map(Number)
}

/**
 * CPU time so far, in µs, of the PostgreSQL server: every process alive now, and the backends that
 * exited since (the postmaster reaps them, so their time is in its children's share).
 */
export function postgresCpuMicros(): number {
  return postgresPids().reduce((sum, pid) => sum + cpuMicros(`/proc/${pid}/stat`, true), 0)
}

/** Busy and total clock ticks of all CPUs so far (/proc/stat; idle and iowait are not busy). */
export function cpuTicks(): { busy: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  const total = fields.reduce((a, b) => a + b, 0)
  return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total }
}
