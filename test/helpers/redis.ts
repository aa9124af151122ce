/** Redis isolation: a unique key prefix per test, cleaned by prefix; never FLUSHALL. */
import { randomUUID } from 'node:crypto'

import { Cluster, Redis as IORedis, type Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'

import { parseClusterUrl } from '../../transports/redis/cluster-url.js'
import { redisClusterUrl, redisUrl } from './servers.js'
import { waitFor } from './wait.js'

export function testPrefix(): string {
  return `t:${randomUUID().slice(0, 8)}:`
}

/** Deletes every key under `prefix` (SCAN + UNLINK). */
export async function deleteByPrefix(client: Redis, prefix: string): Promise<number> {
  let cursor = '0'
  let deleted = 0
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
    cursor = next
    if (keys.length > 0) deleted += await client.unlink(...keys)
  } while (cursor !== '0')
  return deleted
}

/** A plain ioredis client to the run's server for a test file: connected before its tests, quit after. */
export function useRawRedis(): Redis {
  const raw = new IORedis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 })
  beforeAll(async () => {
    await raw.connect()
  })
  afterAll(async () => {
    await raw.quit()
  })
  return raw
}

/** An ioredis Cluster client to the run's cluster for a test file: connected before its tests, quit after. */
export function useRawCluster(): Cluster {
  const { nodes } = parseClusterUrl(redisClusterUrl())
  const raw = new Cluster([...nodes], { lazyConnect: true })
  beforeAll(async () => {
    await raw.connect()
    // Every node's connection is made now, not in the first test that reaches it (the leak check counts them).
    await Promise.all(raw.nodes('all').map((node) => node.ping()))
  })
  afterAll(async () => {
    await raw.quit()
  })
  return raw
}

/** Deletes every key matching `pattern` on every master of a cluster, one key per UNLINK (keys of several slots). */
export async function deleteOnCluster(cluster: Cluster, pattern: string): Promise<number> {
  let deleted = 0
  for (const node of cluster.nodes('master')) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500)
      cursor = next
      for (const key of keys) deleted += await node.unlink(key)
    } while (cursor !== '0')
  }
  return deleted
}

/**
 * The EVALSHA calls whose first key is `key`, as MONITOR on the shared server sees them while `fn` runs.
 * MONITOR reports commands in the order they ran: once a marker sent after `fn` is seen, every command of
 * `fn` was.
 */
export async function scriptCallsOn(key: string, fn: () => Promise<void>): Promise<number> {
  const base = new IORedis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 })
  const probe = new IORedis(redisUrl(), { maxRetriesPerRequest: 1 })
  const monitor = await base.monitor()
  const marker = `marker-${Math.random()}`
  const commands: string[][] = []
  monitor.on('monitor', (_time: string, args: string[]) => commands.push(args))
  try {
    await fn()
    await probe.echo(marker)
    await waitFor(() => commands.some((args) => args[1] === marker), { what: 'MONITOR to report the marker' })
    return commands.filter((args) => args[0]?.toLowerCase() === 'evalsha' && args[3] === key).length
  } finally {
    monitor.disconnect()
    probe.disconnect()
  }
}
