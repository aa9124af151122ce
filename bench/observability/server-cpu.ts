/**
 * The CPU of one PostgreSQL server, from /proc: its postmaster and the postmaster's children (backends,
 * helpers), and the children that exited since (reaped by the postmaster, so in its children's share).
 * Only that server's: a machine shared with other servers (test runs start and stop their own) would
 * otherwise count their CPU, and lose it when one stops.
 */
import { readdirSync, readFileSync } from 'node:fs'

import pg from 'pg'

import { cpuMicros } from '../lib/proc-cpu.js'

/** The parent pid in a /proc stat file; undefined once the process is gone. */
function parentPid(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return undefined
  }
}

/**
 * The postmaster of the server at `url` (the parent of a backend of it), or undefined when the server
 * runs where this process cannot see it (another machine or pid namespace).
 */
export async function postmasterPid(url: string): Promise<number | undefined> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
    const parent = parentPid(String(rows[0]?.pid ?? 0))
    return parent === undefined || parent <= 1 ? undefined : parent
  } finally {
    await client.end()
  }
}

/** CPU µs so far of `postmaster` and its processes, alive and reaped; NaN without a postmaster. */
export function serverCpuMicros(postmaster: number | undefined): number {
  if (postmaster === undefined) return Number.NaN
  let sum = cpuMicros(`/proc/${postmaster}/stat`, true)
  for (const pid of readdirSync('/proc')) {
    if (/^\d+$/.test(pid) && parentPid(pid) === postmaster) sum += cpuMicros(`/proc/${pid}/stat`, true)
  }
  return sum
}
