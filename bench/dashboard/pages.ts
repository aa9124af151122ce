/**
 * The dashboard at scale: every page's server time with 1,000,000 jobs in the table.
 *
 *   npx tsx bench/dashboard/pages.ts [jobs=1000000] [rounds=20]
 *
 * Fills a fresh database with `jobs` rows in one statement (a mix of statuses and names as a busy queue
 * has: mostly completed, some pending, dead, canceled and retrying; one job in a thousand with a
 * nested payload to search for), with a 'completed' event per completed job, then VACUUM ANALYZE. Then
 * runs `PulseServer` in this process and asks each page `rounds` times (after 3 warm-ups), reading the
 * page's own `Server-Timing` (the dashboard's handler, from the request to the rendered page) and the
 * client's wall time. Prints one table, pages over the 300 ms target marked.
 */
import pg from 'pg'

import { JobQueue } from '../../actors/jobs/index.js'
import { PulseServer } from '../../cli/server/pulse-server.js'
import { captureEnv, envMarkdown } from '../lib/env.js'
import { openServer } from '../jobs/server.js'

const kTargetMs = 300

const fill = (n: number) => `
INSERT INTO pulse.jobs (name, args, status, priority, attempt, max_attempts, run_at, created_at, updated_at, last_error)
SELECT 'job-' || (i % 20),
       CASE WHEN i % 1000 = 0 THEN jsonb_build_object('user', jsonb_build_object('id', i), 'tag', 'needle')
            ELSE jsonb_build_object('n', i) END,
       s.status, i % 5, CASE WHEN s.status = 'pending' THEN 0 ELSE 1 END, 5,
       now() - make_interval(secs => (${n} - i) * 0.5), now() - make_interval(secs => (${n} - i) * 0.5),
       now() - make_interval(secs => (${n} - i) * 0.5),
       CASE WHEN s.status IN ('dead', 'retrying') THEN '{"name":"Error","message":"boom"}'::jsonb END
  FROM generate_series(1, ${n}) AS i,
       LATERAL (SELECT CASE WHEN i % 100 < 90 THEN 'completed' WHEN i % 100 < 95 THEN 'pending'
                            WHEN i % 100 < 98 THEN 'dead' WHEN i % 100 < 99 THEN 'canceled'
                            ELSE 'retrying' END AS status) s`

// Every completion as the hot path writes it, in time order: one 'completed' row per completed job (about
// 900,000), with its start — the history a busy queue has, of which the last hour is a small part.
const kEvents = `
INSERT INTO pulse.job_events (job_id, seq, attempt, type, data, at, started_at, owner)
SELECT id, 2, 1, 'completed', NULL, updated_at, updated_at - interval '20 ms', 'bench'
  FROM pulse.jobs WHERE status = 'completed' ORDER BY id`

interface Sample {
  page: string
  server: number[]
  wall: number[]
  status: number
}

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN
}

async function measure(base: string, path: string, rounds: number): Promise<Sample> {
  const sample: Sample = { page: path, server: [], wall: [], status: 0 }
  for (let i = 0; i < rounds + 3; i++) {
    const t0 = performance.now()
    const res = await fetch(`${base}${path}`, { headers: { Accept: 'text/html' } })
    await res.text()
    const wall = performance.now() - t0
    const timing = /dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1]
    sample.status = res.status
    if (i < 3) continue
    sample.wall.push(wall)
    sample.server.push(timing === undefined ? NaN : Number(timing))
  }
  return sample
}

async function main(): Promise<void> {
  const jobs = Number(process.argv[2] ?? 1_000_000)
  const rounds = Number(process.argv[3] ?? 20)
  const server = await openServer()
  const url = await server.createDatabase('pulse_bench_dashboard')
  const queue = await JobQueue.connect({ pg: url })
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    let t0 = performance.now()
    await client.query(fill(jobs))
    await client.query(kEvents)
    await client.query('VACUUM ANALYZE pulse.jobs')
    await client.query('VACUUM ANALYZE pulse.job_events')
    console.log(`filled ${jobs} jobs in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    const { rows } = await client.query<{ id: string }>(
      `SELECT id::text FROM pulse.jobs WHERE status = 'dead' ORDER BY id DESC LIMIT 1`,
    )
    const deadId = rows[0]?.id ?? '1'
    const http = await PulseServer.listen({ queue, port: 0 })
    const base = `${http.url}/ui`
    const pages = [
      '/',
      '/jobs',
      '/jobs?status=dead',
      '/jobs?status=pending&name=job-7',
      '/jobs?status=completed&name=job-3',
      `/jobs?args=${encodeURIComponent('{"tag":"needle"}')}`,
      `/jobs/${deadId}`,
      '/jobs/confirm?action=requeue&status=dead',
      '/schedules',
      '/dispatch',
      '/audit',
    ]
    t0 = performance.now()
    const samples: Sample[] = []
    for (const page of pages) samples.push(await measure(base, page, rounds))
    await http.close()
    console.log(`measured ${pages.length} pages × ${rounds} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
    console.log(`| page | status | server p50 ms | server p99 ms | wall p50 ms | under ${kTargetMs} ms |`)
    console.log('|---|---|---|---|---|---|')
    for (const s of samples) {
      const p99 = pct(s.server, 99)
      const row = [s.page, s.status, pct(s.server, 50).toFixed(1), p99.toFixed(1), pct(s.wall, 50).toFixed(1)]
      console.log(`| \`${row[0]}\` | ${row.slice(1).join(' | ')} | ${p99 < kTargetMs ? 'yes' : '**no**'} |`)
    }
    console.log(`\n${envMarkdown(captureEnv(['pg', 'htmx.org', 'uplot']))}\nPostgreSQL: ${server.version}`)
  } finally {
    await client.end()
    await queue.close()
    await server.close()
  }
}

await main()
