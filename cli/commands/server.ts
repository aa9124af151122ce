/**
 * `pulse server`: the HTTP server (`cli/server/pulse-server.ts`) on the configured servers, until
 * SIGINT or SIGTERM, then a graceful stop: the HTTP server first (SSE streams end, requests in flight
 * finish), then the queue, the bus and the Redis connection.
 *
 * Configuration, each flag over its variable: `--addr` / `PULSE_HTTP_ADDR` (`host:port`, default
 * `127.0.0.1:2021`), `--database` / `DATABASE_URL` (the jobs API), `--redis` / `REDIS_URL` with
 * `--namespaces` / `PULSE_BUS_NAMESPACES` (the bus API; comma-separated), `PULSE_AUTH_USERS` (Basic
 * auth), `PULSE_TLS_CERT` + `PULSE_TLS_KEY` (PEM files, or PEM text). The saved config
 * (`pulse config save`) fills in what neither gives.
 *
 * It logs through pino (`cli/common/logger.ts`): the queue's, the bus's and the HTTP server's warnings
 * and errors, and the steps of the stop; the banner and the stop lines stay plain lines. `/metrics`
 * serves one registry: the process's default metrics, the queue's, the bus's and the job gauges.
 */
import { readFileSync } from 'node:fs'

import { Command } from 'commander'
import type { Registry } from 'prom-client'

import { Bus } from '../../actors/bus/index.js'
import type { JobQueue } from '../../actors/jobs/index.js'
import { InvalidArgumentError } from '../../runtime/errors.js'
import type { TlsOptions } from '../../transports/http/index.js'
import { createRedis, type PulseRedis } from '../../transports/redis/index.js'
import { openQueue, within, withConnectionFlags } from '../common/connect.js'
import { parseAddr } from '../common/parse.js'
import { redactUrl, resolveSettings, type Settings } from '../common/settings.js'
import { serverRegistry } from '../server/metrics.js'
import { PulseServer } from '../server/pulse-server.js'
import { type CliLogger, cliLogger } from '../common/logger.js'

interface ServerFlags {
  addr?: string
  redis?: string
  database?: string
  schema?: string
  namespaces?: string
  timeout?: string
}

export function serverCommand(): Command {
  const command = new Command('server')
    .description('the HTTP server: the bus API at /, the jobs API at /api/v1/, /healthz and /metrics')
    .option('--addr <host:port>', 'where to listen (default: PULSE_HTTP_ADDR, then 127.0.0.1:2021)')
    .option('--namespaces <list>', 'the bus\u2019s namespaces, comma-separated (default: PULSE_BUS_NAMESPACES)')
  withConnectionFlags(command, { redis: true, database: true })
  return command.action((flags: ServerFlags) => runServer(flags))
}

function pem(value: string): string {
  return value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8')
}

function tlsOf(env: NodeJS.ProcessEnv): TlsOptions | undefined {
  const cert = env.PULSE_TLS_CERT ?? ''
  const key = env.PULSE_TLS_KEY ?? ''
  if (cert === '' && key === '') return undefined
  if (cert === '' || key === '') {
    throw new InvalidArgumentError('TLS needs both PULSE_TLS_CERT and PULSE_TLS_KEY', {
      data: { option: 'PULSE_TLS_CERT' },
    })
  }
  return { cert: pem(cert), key: pem(key) }
}

function namespacesOf(flags: ServerFlags): string[] {
  const list = flags.namespaces ?? process.env.PULSE_BUS_NAMESPACES ?? ''
  return list
    .split(',')
    .map((ns) => ns.trim())
    .filter((ns) => ns !== '')
}

interface Opened {
  queue: JobQueue | undefined
  bus: Bus | undefined
  redis: PulseRedis | undefined
}

/** What the library objects are given: where they log and count. */
interface Observers {
  logger: CliLogger
  metrics: Registry
}

async function openDependencies(settings: Settings, namespaces: string[], observers: Observers): Promise<Opened> {
  const opened: Opened = { queue: undefined, bus: undefined, redis: undefined }
  try {
    if (settings.database !== undefined) opened.queue = await openQueue(settings, observers)
    if (settings.redis !== undefined) {
      const redis = createRedis(settings.redis, { name: 'pulse:server' })
      opened.redis = redis
      await within(redis.client.ping(), settings.timeoutMs, `Redis at ${redactUrl(settings.redis) ?? ''}`)
      if (namespaces.length > 0) {
        opened.bus = await within(Bus.connect(redis, { namespaces, ...observers }), settings.timeoutMs, 'the bus')
      }
    }
    return opened
  } catch (error) {
    await closeAll(opened, observers.logger)
    throw error
  }
}

async function closeAll(opened: Opened, logger: CliLogger): Promise<void> {
  const steps = [
    ['bus', opened.bus],
    ['job queue', opened.queue],
    ['Redis connection', opened.redis],
  ] as const
  for (const [what, closable] of steps) {
    if (closable === undefined) continue
    logger.info(`closing the ${what}`)
    await closable.close().catch((error: unknown) => logger.warn({ err: error }, `closing the ${what} failed`))
  }
}

async function runServer(flags: ServerFlags): Promise<void> {
  const settings = await resolveSettings({ ...flags, httpAddr: flags.addr })
  const { host, port } = parseAddr(settings.httpAddr)
  const tls = tlsOf(process.env)
  const users = process.env.PULSE_AUTH_USERS ?? ''
  const namespaces = namespacesOf(flags)
  if (settings.database === undefined && settings.redis === undefined) {
    throw new InvalidArgumentError('nothing to serve: give --database / DATABASE_URL, --redis / REDIS_URL, or both', {
      data: { option: '--database' },
    })
  }
  const stopped = new Promise<string>((done) => {
    process.once('SIGINT', () => done('SIGINT'))
    process.once('SIGTERM', () => done('SIGTERM'))
  })
  const logger = cliLogger('pulse server')
  const metrics = serverRegistry()
  const opened = await openDependencies(settings, namespaces, { logger, metrics })
  const { redis } = opened
  try {
    const server = await PulseServer.listen({
      queue: opened.queue,
      bus: opened.bus,
      redis,
      ...(redis === undefined ? {} : { health: { redis: () => redis.client.ping() } }),
      host,
      port,
      tls,
      auth: users === '' ? undefined : { users },
      logger,
      metrics,
    })
    console.log(`pulse server listening on ${server.url}`)
    console.log(`dashboard: ${server.url}/ui/`)
    console.log(
      [
        `jobs API: ${opened.queue === undefined ? 'off (no database)' : `on (schema ${settings.schema})`}`,
        `bus: ${opened.bus === undefined ? 'off (no Redis or no --namespaces)' : `on (${namespaces.join(', ')})`}`,
        `auth: ${users === '' ? 'off' : 'on'}`,
        `tls: ${tls === undefined ? 'off' : 'on'}`,
      ].join(', '),
    )
    const signal = await stopped
    console.log(`${signal}: stopping`)
    logger.info('closing the HTTP server (SSE streams end, requests in flight finish)')
    await server.close()
  } finally {
    await closeAll(opened, logger)
  }
  console.log('stopped')
}
