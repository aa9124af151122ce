/**
 * The run's servers. With REDIS_URL / DATABASE_URL set, those servers are used; otherwise a fresh
 * redis-server and PostgreSQL cluster start on free loopback ports in temporary folders, and stop (and
 * vanish) at the end of the run — also when the run is killed, through their guards. A PgBouncer in
 * transaction mode starts in front of the PostgreSQL server the same way (every database reachable
 * through it): the job queue's tests run through it too (test/helpers/postgres.ts). A Redis Cluster of 3
 * masters and 3 replicas starts too (or REDIS_CLUSTER_URL, a `redis-cluster://` URL, is used). A template
 * database gets the package's migrations once; each test file clones it (test/helpers/postgres.ts).
 * With PULSE_TEST_SERVERS=none (`npm run test:unit`) nothing starts.
 */
import { randomUUID } from 'node:crypto'

import pg from 'pg'
import type { TestProject } from 'vitest/node'

import { LocalPgBouncer } from '../../cli/local-servers/pgbouncer-server.js'
import { LocalPostgres } from '../../cli/local-servers/postgres-server.js'
import { LocalRedisCluster } from '../../cli/local-servers/redis-cluster.js'
import { LocalRedis } from '../../cli/local-servers/redis-server.js'
import { migrate } from '../../transports/postgres/migrate.js'
import { withDatabase } from './postgres.js'

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

async function createTemplate(databaseUrl: string): Promise<string> {
  const name = `pulse_tpl_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  await adminQuery(databaseUrl, `CREATE DATABASE ${name}`)
  const pool = new pg.Pool({ connectionString: withDatabase(databaseUrl, name), max: 2 })
  try {
    await migrate(pool)
  } finally {
    await pool.end()
  }
  return name
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // `npm run test:unit`: the unit project needs no server, so none starts.
  if (process.env.PULSE_TEST_SERVERS === 'none') return async () => {}
  const [redis, postgres, cluster] = await Promise.all([
    process.env.REDIS_URL === undefined ? LocalRedis.start() : undefined,
    process.env.DATABASE_URL === undefined ? LocalPostgres.start({ fast: true }) : undefined,
    process.env.REDIS_CLUSTER_URL === undefined ? LocalRedisCluster.start() : undefined,
  ])
  const redisUrl = redis?.url ?? process.env.REDIS_URL ?? ''
  const redisClusterUrl = cluster?.url ?? process.env.REDIS_CLUSTER_URL ?? ''
  const databaseUrl = postgres?.url ?? process.env.DATABASE_URL ?? ''
  let pgbouncer: LocalPgBouncer
  try {
    pgbouncer = await LocalPgBouncer.start({ target: databaseUrl })
  } catch (error) {
    await Promise.all([redis?.close(), postgres?.close(), cluster?.close()])
    throw error
  }
  const template = await createTemplate(databaseUrl)
  project.provide('redisUrl', redisUrl)
  project.provide('redisClusterUrl', redisClusterUrl)
  project.provide('databaseUrl', databaseUrl)
  project.provide('pgbouncerUrl', pgbouncer.url)
  project.provide('templateDatabase', template)
  return async () => {
    await pgbouncer.close()
    if (postgres === undefined) await adminQuery(databaseUrl, `DROP DATABASE IF EXISTS ${template} WITH (FORCE)`)
    await Promise.all([redis?.close(), postgres?.close(), cluster?.close()])
  }
}
