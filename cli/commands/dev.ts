/**
 * `pulse dev`: the local deployment. Where REDIS_URL / DATABASE_URL are unset it starts redis-server
 * and PostgreSQL as guarded child processes with their data in `.pulse/` (kept between runs), migrates
 * the schema, prints the URLs and a health line, runs an example job workload (`--no-workload` to
 * skip it) on a runtime the dashboard's runtime page shows, and runs until Ctrl-C (or SIGTERM), then
 * stops all. Like `pulse server`, it logs through pino and serves one metrics registry at `/metrics`
 * (the runtime's actors, the job queues and the process).
 */
import { join, resolve } from 'node:path'

import { Command } from 'commander'

import { createPgPool, migrate } from '../../transports/postgres/index.js'
import { createRedis } from '../../transports/redis/index.js'
import { JobQueue } from '../../actors/jobs/index.js'
import { Runtime } from '../../runtime/index.js'
import { serverRegistry } from '../server/metrics.js'
import { PulseServer } from '../server/pulse-server.js'
import { cliLogger } from '../common/logger.js'
import { parseAddr } from './server.js'
import { LocalPostgres } from '../local-servers/postgres-server.js'
import { LocalRedis } from '../local-servers/redis-server.js'
import { type DemoWorkload, startDemoWorkload } from './dev-workload.js'

interface DevOptions {
  addr: string
  dir: string
  schema: string
  workload: boolean
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
    .option('--no-workload', 'do not run the example job workload')
    .action((options: DevOptions) => runDev(options))
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, string]> {
  const t0 = process.hrtime.bigint()
  const value = await fn()
  return [value, `${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`]
}

async function runDev(options: DevOptions): Promise<void> {
  const dir = resolve(options.dir)
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
  let queue: JobQueue | undefined
  let server: PulseServer | undefined
  try {
    const { applied } = await migrate(db, { schema: options.schema })
    console.log(`redis:    ${redisUrl}${redisServer === undefined ? '' : ` (embedded, data in ${redisServer.dir})`}`)
    console.log(`postgres: ${databaseUrl}${pgServer === undefined ? '' : ` (embedded, data in ${pgServer.dir})`}`)
    const [, redisRtt] = await timed(() => redis.client.ping())
    const [, pgRtt] = await timed(() => db.query('SELECT 1'))
    console.log(
      `healthy: redis PING ${redisRtt}, postgres SELECT 1 ${pgRtt}, schema ${options.schema} (${applied.length} migrations applied now)`,
    )
    if (options.workload) {
      runtime = await Runtime.start({ metrics })
      workload = await startDemoWorkload(databaseUrl, options.schema, (line) => console.log(line), runtime, {
        logger,
        metrics,
      })
    }
    queue = await JobQueue.connect({ pg: databaseUrl, schema: options.schema, logger, metrics })
    const { host, port } = parseAddr(options.addr)
    server = await PulseServer.listen({ queue, redis, runtime, host, port, logger, metrics })
    console.log(`server: ${server.url} (jobs API at /api/v1/, /healthz, /metrics)`)
    console.log(`dashboard: ${server.url}/ui/`)
    console.log('Ctrl-C stops the deployment.')
    const signal = await stopped
    console.log(`${signal}: stopping`)
  } finally {
    logger.info('stopping: the HTTP server, the job queues, the runtime, the connections, the embedded servers')
    await server?.close()
    await queue?.close()
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
