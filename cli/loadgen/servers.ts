/**
 * The servers a load run uses: the configured ones (flags, REDIS_URL / DATABASE_URL, the saved config,
 * as every command resolves them), else embedded ones (cli/local-servers) started for the run in
 * temporary folders and stopped after it. Only the servers the run's workloads and peers need.
 */
import { LocalPostgres } from '../local-servers/postgres-server.js'
import { LocalRedis } from '../local-servers/redis-server.js'
import type { Settings } from '../common/settings.js'
import type { ServerKind } from './types.js'

export type ServerOrigin = 'configured' | 'embedded' | 'unused'

export interface LoadServers {
  readonly redisUrl: string
  readonly databaseUrl: string
  readonly origin: Readonly<Record<ServerKind, ServerOrigin>>
  stop(): Promise<void>
}

async function redisServer(settings: Settings, needed: boolean): Promise<[string, ServerOrigin, LocalRedis?]> {
  if (!needed) return ['', 'unused']
  if (settings.redis !== undefined) return [settings.redis, 'configured']
  const local = await LocalRedis.start()
  return [local.url, 'embedded', local]
}

async function postgresServer(settings: Settings, needed: boolean): Promise<[string, ServerOrigin, LocalPostgres?]> {
  if (!needed) return ['', 'unused']
  if (settings.database !== undefined) return [settings.database, 'configured']
  const local = await LocalPostgres.start()
  return [local.url, 'embedded', local]
}

/** Opens the servers of `needs`; all or none (a failure stops what was started). */
export async function openServers(settings: Settings, needs: ReadonlySet<ServerKind>): Promise<LoadServers> {
  const [redis, postgres] = await Promise.allSettled([
    redisServer(settings, needs.has('redis')),
    postgresServer(settings, needs.has('postgres')),
  ])
  const stop = async (): Promise<void> => {
    await Promise.allSettled([
      redis.status === 'fulfilled' ? redis.value[2]?.close() : undefined,
      postgres.status === 'fulfilled' ? postgres.value[2]?.close() : undefined,
    ])
  }
  if (redis.status === 'rejected' || postgres.status === 'rejected') {
    await stop()
    throw redis.status === 'rejected' ? redis.reason : (postgres as PromiseRejectedResult).reason
  }
  return {
    redisUrl: redis.value[0],
    databaseUrl: postgres.value[0],
    origin: { redis: redis.value[1], postgres: postgres.value[1] },
    stop,
  }
}
