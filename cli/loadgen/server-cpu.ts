/**
 * The CPU a server spends while a target runs. Redis: `INFO cpu` (`used_cpu_user + used_cpu_sys`),
 * wherever it runs. PostgreSQL: the backends of the target's database and the server's background
 * processes (pg_stat_activity), sampled every 50 ms while they live and read from /proc — on this
 * machine only: a server elsewhere reads as null.
 */
import { readFileSync } from 'node:fs'

import { Redis } from 'ioredis'
import pg from 'pg'

import { cpuMicros } from './proc-cpu.js'

/** A running measurement: `stop()` resolves to the server's CPU µs since it started, or null. */
export interface CpuMeter {
  stop(): Promise<number | null>
}

const kNone: CpuMeter = { stop: () => Promise.resolve(null) }

async function redisCpuMicros(client: Redis): Promise<number> {
  const info = await client.info('cpu')
  const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0)
  return Math.round((field('used_cpu_user') + field('used_cpu_sys')) * 1e6)
}

export async function redisCpu(url: string): Promise<CpuMeter> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await client.connect()
    const before = await redisCpuMicros(client)
    return {
      async stop() {
        try {
          return (await redisCpuMicros(client)) - before
        } finally {
          client.disconnect()
        }
      },
    }
  } catch {
    client.disconnect()
    return kNone
  }
}

function isLocalPostgres(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8') === 'postgres\n'
  } catch {
    return false
  }
}

const kPids = `SELECT pid FROM pg_stat_activity WHERE datname = current_database() OR datname IS NULL`

async function backendPids(client: pg.Client): Promise<number[]> {
  const { rows } = await client.query<{ pid: number }>(kPids)
  return rows.map((r) => r.pid)
}

export async function postgresCpu(url: string): Promise<CpuMeter> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  if (!isLocalPostgres(rows[0]?.pid ?? 0)) {
    await client.end()
    return kNone
  }
  const first = new Map((await backendPids(client)).map((p) => [p, cpuMicros(`/proc/${p}/stat`)]))
  const last = new Map<number, number>()
  const read = (pids: readonly number[]): void => {
    for (const p of pids) {
      if (!first.has(p)) first.set(p, 0)
      const us = cpuMicros(`/proc/${p}/stat`)
      if (us > 0) last.set(p, us)
    }
  }
  let sampling = Promise.resolve()
  const timer = setInterval(() => {
    sampling = backendPids(client).then(read, () => undefined)
  }, 50)
  return {
    async stop() {
      clearInterval(timer)
      await sampling
      read(await backendPids(client).catch(() => []))
      await client.end().catch(() => undefined)
      let sum = 0
      for (const [p, us] of last) sum += us - (first.get(p) ?? 0)
      return sum
    },
  }
}
