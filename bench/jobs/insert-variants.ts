/**
 * The insert of `enqueueMany` (all defaults: names and JSON args) in two forms side by side: now (names
 * as one text[] literal, args as one JSON array the server splits) and before (the driver's `text[]`
 * and `jsonb[]` of one JSON text per job). Per job: the backend's CPU (from /proc), the caller's CPU
 * (parameters, the driver, the reply) and the wall time, for empty args and for an 8-key payload.
 * The two forms take turns statement by statement on one prepared connection, each from an empty table.
 *
 *   npx tsx bench/jobs/insert-variants.ts [jobs=20000] [rounds=3]    # DATABASE_URL or a LocalPostgres
 */
import pg from 'pg'

import { preparedQueryable } from '../../transports/postgres/jobs/actor-pool.js'
import { JobQueue } from '../../actors/jobs/queue.js'
import { insertJobs } from '../../transports/postgres/jobs/enqueue.js'
import { quoteSchema } from '../../transports/postgres/jobs/queryable.js'
import { cpuMicros } from '../lib/proc-cpu.js'
import { kEightKeyArgs } from './adapter.js'
import { openServer } from './server.js'
import { statementOf, swap } from './statement-text.js'

const n = Number(process.argv[2] ?? 20_000)
const rounds = Number(process.argv[3] ?? 3)
const kBatch = 1_000
const q = quoteSchema('pulse')

const kNow = await statementOf((db) => insertJobs(db, q, [{ name: 'noop', args: {} }]))
const kBefore = swap(
  kNow,
  'ROWS FROM (unnest($1::text[]), jsonb_array_elements($2::jsonb))',
  'unnest($1::text[], $2::jsonb[])',
)

const payloads: [string, unknown][] = [
  ['{}', {}],
  ['8 keys', kEightKeyArgs],
]

const server = await openServer()
const url = await server.createDatabase('insert_variants')
const pool = new pg.Pool({ connectionString: url, max: 1 })
try {
  await (await JobQueue.connect({ pg: url })).close()
  const db = preparedQueryable(pool)
  const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  const stat = `/proc/${rows[0]?.pid ?? 0}/stat`
  const lines = [
    `${n} jobs in statements of ${kBatch}, µs per job`,
    '',
    '| args | form | round | backend CPU | caller CPU | wall |',
    '|---|---|---:|---:|---:|---:|',
  ]
  for (const [label, args] of payloads) {
    const jobs = Array.from({ length: kBatch }, () => ({ name: 'noop', args }))
    const forms: [string, () => Promise<unknown>][] = [
      ['now', () => insertJobs(db, q, jobs)],
      ['before: jsonb[]', () => db.query(kBefore, [jobs.map((j) => j.name), jobs.map((j) => JSON.stringify(j.args))])],
    ]
    for (let round = 1; round <= rounds; round++) {
      for (const [form, run] of forms) {
        await pool.query('TRUNCATE pulse.jobs')
        const backend0 = cpuMicros(stat)
        const caller0 = process.cpuUsage()
        const t0 = performance.now()
        for (let sent = 0; sent < n; sent += kBatch) await run()
        const wall = (performance.now() - t0) * 1000
        const caller = process.cpuUsage(caller0)
        const backend = cpuMicros(stat) - backend0
        lines.push(
          `| ${label} | ${form} | ${round} | ${(backend / n).toFixed(2)} | ${((caller.user + caller.system) / n).toFixed(2)} | ${(wall / n).toFixed(2)} |`,
        )
      }
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`)
} finally {
  await pool.end()
  await server.close()
}
