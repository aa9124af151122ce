/**
 * `pulse dev`: the whole local deployment. Where REDIS_URL / DATABASE_URL are unset it starts
 * redis-server and PostgreSQL as guarded child processes with their data in `.pulse/` (kept between
 * runs), migrates the schema, prints the URLs and a health line, starts one `Runtime` with every
 * feature at work (dev-workload.ts; `--no-workload` leaves the runtime idle), serves the jobs API, the
 * bus API, the dashboard and `/metrics` on one address, prints a status line every `--status-every`,
 * and runs until Ctrl-C (or SIGTERM), then stops all. It logs through pino; one metrics registry holds
 * the runtime's actors, every feature and the process.
 */
import { join, resolve } from 'node:path'

import { Command } from 'commander'

import { createPgPool, migrate } from '../../transports/postgres/index.js'
import { createRedis } from '../../transports/redis/index.js'
import { Runtime } from '../../actors/runtime/index.js'
import { kMaxTimerMs } from '../../runtime/options.js'
import { serverRegistry } from '../server/metrics.js'
import { PulseServer } from '../server/pulse-server.js'
import { parseDuration } from '../common/duration.js'
import { cliLogger } from '../common/logger.js'
import { parseAddr } from '../common/parse.js'
import { LocalPostgres } from '../local-servers/postgres-server.js'
import { LocalRedis } from '../local-servers/redis-server.js'
import { type DemoWorkload, startDemoWorkload } from './dev-workload.js'

interface DevOptions {
  addr: string
  dir: string
  schema: string
  workload: boolean
  statusEvery: string
}

export function devCommand(): Command {
  return new Command('dev')
    .description(
      'start the local deployment: embedded Redis + PostgreSQL (unless REDIS_URL / DATABASE_URL are set); Ctrl-C stops all',
    )
    .option('--dir <path>', 'folder for the embedded servers\u2019 data', '.pulse')
    .option(
      '--addr <host:port>',
      'where the server and dashboard listen',
      process.env.PULSE_HTTP_ADDR ?? '127.0.0.1:2021',
    )
    .option('--schema <name>', 'PostgreSQL schema', process.env.PULSE_SCHEMA ?? 'pulse')
    .option('--no-workload', 'do not run the example workload of every feature')
    .option('--status-every <duration>', 'how often the status line is printed', '10s')
    .action((options: DevOptions) => runDev(options))
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, string]> {
  const t0 = process.hrtime.bigint()
  const value = await fn()
  return [value, `${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`]
}

async function runDev(options: DevOptions): Promise<void> {
  const dir = resolve(options.dir)
  const statusEveryMs = parseDuration(options.statusEvery, '--status-every', { min: 100, max: kMaxTimerMs })
  const stopped = new Promise<string>((done) => {
    process.once('SIGINT', () => done('SIGINT'))
    process.once('SIGTERM', () => done('SIGTERM'))
  })
  const [redisServer, pgServer] = await startServers(dir)
  const redisUrl = redisServer?.url ?? process.env.REDIS_URL ?? ''
  const databaseUrl = pgServer?.url ?? process.env.DATABASE_URL ?? ''
  const redis = createRedis(redisUrl)
  const db = createPgPool(databaseUrl)
  const logger = cliLogger('pulse dev')
  const metrics = serverRegistry()
  let runtime: Runtime | undefined
  let workload: DemoWorkload | undefined
  let server: PulseServer | undefined
  let status: NodeJS.Timeout | undefined
  try {
    const { applied } = await migrate(db, { schema: options.schema })
    console.log(`redis:    ${redisUrl}${redisServer === undefined ? '' : ` (embedded, data in ${redisServer.dir})`}`)
    console.log(`postgres: ${databaseUrl}${pgServer === undefined ? '' : ` (embedded, data in ${pgServer.dir})`}`)
    const [, redisRtt] = await timed(() => redis.client.ping())
    const [, pgRtt] = await timed(() => db.query('SELECT 1'))
    console.log(
      `healthy: redis PING ${redisRtt}, postgres SELECT 1 ${pgRtt}, schema ${options.schema} (${applied.length} migrations applied now)`,
    )
    runtime = await Runtime.start({
      redis: redis.client,
      postgres: databaseUrl,
      jobs: { schema: options.schema, actor: 'pulse dev' },
      logger,
      metrics,
    })
    const rt = runtime
    if (options.workload) workload = await startDemoWorkload(rt, (line) => console.log(line))
    const bus = options.workload ? await rt.bus() : undefined
    const { host, port } = parseAddr(options.addr)
    server = await PulseServer.listen({ queue: rt.jobs, bus, redis, runtime: rt, host, port, logger, metrics })
    console.log(
      `server: ${server.url} (jobs API at /api/v1/, /healthz, /metrics${bus === undefined ? '' : ', bus API at /'})`,
    )
    console.log(`dashboard: ${server.url}/ui/`)
    console.log(`metrics: ${server.url}/metrics`)
    console.log('Ctrl-C stops the deployment.')
    const summary = workload
    if (summary !== undefined) status = setInterval(() => console.log(summary.status()), statusEveryMs)
    const signal = await stopped
    console.log(`${signal}: stopping`)
  } finally {
    logger.info('stopping: the HTTP server, the workload, the runtime, the connections, the embedded servers')
    clearInterval(status)
    await server?.close()
    await workload?.close()
    await runtime?.close()
    await Promise.allSettled([redis.close(), db.close()])
    await Promise.all([redisServer?.stop(), pgServer?.stop()])
  }
  console.log('stopped')
}

/** Starts the embedded servers that REDIS_URL / DATABASE_URL do not replace; all or none. */
async function startServers(dir: string): Promise<[LocalRedis | undefined, LocalPostgres | undefined]> {
  const [redis, postgres] = await Promise.allSettled([
    process.env.REDIS_URL === undefined ? LocalRedis.start({ dir: join(dir, 'redis'), persist: true }) : undefined,
    process.env.DATABASE_URL === undefined ? LocalPostgres.start({ dir: join(dir, 'postgres') }) : undefined,
  ])
  if (redis.status === 'fulfilled' && postgres.status === 'fulfilled') return [redis.value, postgres.value]
  await Promise.all([
    redis.status === 'fulfilled' ? redis.value?.stop() : undefined,
    postgres.status === 'fulfilled' ? postgres.value?.stop() : undefined,
  ])
  throw redis.status === 'rejected' ? redis.reason : (postgres as PromiseRejectedResult).reason
}
