/**
 * Statement probe: what one single-row enqueue statement costs, on one connection, one at a time —
 * wall time, the server backend's CPU (from /proc) and this process's CPU — as pulse sends it
 * (unprepared, prepared, prepared without a durable commit) next to `SELECT 1` and a bare INSERT.
 *
 *   npx tsx bench/jobs/probes/stmt-probe.ts [statements=2000]     # DATABASE_URL or a LocalPostgres of its own
 */
import { insertJobs } from '../../../transports/postgres/jobs/enqueue.js'
import { preparedStatement, type Queryable } from '../../../transports/postgres/jobs/queryable.js'
import { cpuMicros } from '../../lib/proc-cpu.js'
import { openServer, pulseProbeClient } from '../server.js'

const n = Number(process.argv[2] ?? 2000)

const server = await openServer()
try {
  const { client: c, pid } = await pulseProbeClient(server, 'probe_stmt')
  await c.query('CREATE TABLE bare (id bigserial PRIMARY KEY, status int NOT NULL DEFAULT 0, args jsonb)')
  const prepared: Queryable = {
    query: (text, values) => c.query(preparedStatement(text, values)),
  }
  const job = [{ name: 'noop', args: { t: 1 } }]
  const variants: Array<[string, string, () => Promise<unknown>]> = [
    ['SELECT 1', '', () => c.query('SELECT 1')],
    ['bare INSERT', '', () => c.query('INSERT INTO bare (args) VALUES ($1)', ['{"t":1}'])],
    ['pulse insert', '', () => insertJobs(c, '"pulse"', job)],
    ['pulse insert, prepared', '', () => insertJobs(prepared, '"pulse"', job)],
    [
      'pulse insert, prepared, async commit',
      'SET synchronous_commit = off',
      () => insertJobs(prepared, '"pulse"', job),
    ],
  ]
  for (const [label, setup, run] of variants) {
    if (setup !== '') await c.query(setup)
    for (let i = 0; i < 200; i++) await run()
    const backend = cpuMicros(`/proc/${pid}/stat`)
    const node = process.cpuUsage()
    const t = performance.now()
    for (let i = 0; i < n; i++) await run()
    const wall = ((performance.now() - t) * 1000) / n
    const own = process.cpuUsage(node)
    const cells = [wall, (cpuMicros(`/proc/${pid}/stat`) - backend) / n, (own.user + own.system) / n].map((v) =>
      v.toFixed(0).padStart(5),
    )
    process.stdout.write(
      `${label.padEnd(38)} wall ${cells[0]} µs   backend CPU ${cells[1]} µs   client CPU ${cells[2]} µs\n`,
    )
  }
  await c.end()
} finally {
  await server.close()
}
