/**
 * CPU time of processes and threads from /proc (Linux), for the probes that say where a run's CPU went.
 * `utime + stime` in clock ticks of 1/100 s (USER_HZ), so a figure is good to 10 ms.
 */
import { readdirSync, readFileSync } from 'node:fs'

const kMicrosPerTick = 10_000

/** CPU time so far, in µs, of the process or thread whose `stat` file this is; 0 once it is gone. */
export function cpuMicros(statFile: string): number {
  try {
    const stat = readFileSync(statFile, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * kMicrosPerTick
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
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').startsWith('postgres')
      } catch {
        return false
      }
    })
    .map(Number)
}

/** CPU time so far, in µs, of every PostgreSQL process alive now. */
export function postgresCpuMicros(): number {
  return postgresPids().reduce((sum, pid) => sum + cpuMicros(`/proc/${pid}/stat`), 0)
}
