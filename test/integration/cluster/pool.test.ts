/**
 * Worker pools on a Redis Cluster (actors/pool, cluster layout of transports/redis/pool/keys.ts): jobs
 * reach the worker their key hashes to, rebalance when workers join and leave, a killed node's jobs
 * restart elsewhere, every key of a pool sits in one slot and pools spread over the masters; the compat
 * layout is refused before any connection. Keys are read on the masters (`CLUSTER KEYSLOT`, the slot table).
 */
import { randomUUID } from 'node:crypto'

import { Cluster } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'

import { jumpHash, PoolNode, readPoolStatus, type PoolOptions } from '../../../actors/pool/index.js'
import { parseClusterUrl } from '../../../transports/redis/cluster-url.js'
import { type Child, spawnTs } from '../../helpers/child.js'
import { deleteOnCluster, useRawCluster } from '../../helpers/redis.js'
import { redisClusterUrl } from '../../helpers/servers.js'
import { kFast, recorder, until } from '../pool/helpers.js'

const fixture = new URL('../../fixtures/pool/node.ts', import.meta.url).pathname

const raw = useRawCluster()

/**
 * Timings for the tests that do not wait for a death: a node's keep-alive (every ttl / 2, on its
 * watchdog thread) must not look stale on a loaded machine, or a sweep removes a live node's stream and
 * its dispatches time out. The dead-worker test uses `kDying`.
 */
const kSteady: PoolOptions = {
  workerTtlMs: 3_000,
  ackGracePeriodMs: 2_000,
  jobSinkBlockMs: 100,
  workerShutdownTtlMs: 5_000,
}

/** The dead-worker test's: `kFast`'s sweep timings, a dispatch timeout (2 × grace) that a loaded machine meets. */
const kDying: PoolOptions = { ...kFast, ackGracePeriodMs: 1_000 }

/** Pools of one test on the cluster: unique names, nodes closed and keys deleted after it. */
class ClusterPools {
  readonly tag = `p${randomUUID().slice(0, 8)}`
  readonly #nodes: PoolNode[] = []
  readonly children: Child[] = []

  name(label = 'pool'): string {
    return `${this.tag}-${label}`
  }

  async join(name: string, options: PoolOptions = {}): Promise<PoolNode> {
    const node = await PoolNode.join(redisClusterUrl(), name, { ...kSteady, ...options })
    this.#nodes.push(node)
    return node
  }

  /** A node with one worker in a process of its own (test/fixtures/pool/node.ts); resolves once ready. */
  async spawn(name: string, options: PoolOptions): Promise<Child> {
    const child = spawnTs(fixture, [JSON.stringify({ url: redisClusterUrl(), pool: name, workers: 1, options })])
    this.children.push(child)
    await child.waitForLine(/^ready /, 30_000)
    return child
  }

  async close(): Promise<void> {
    for (const child of this.children.splice(0)) {
      child.process.kill('SIGKILL')
      await child.exited
    }
    await Promise.all(this.#nodes.splice(0).map((node) => node.close().catch(() => undefined)))
    await deleteOnCluster(raw, `*{${this.tag}-*`)
  }
}

let pools: ClusterPools
afterEach(async () => {
  await pools.close()
})

/** The master (`host:port`) serving `key`, from the cluster's slot table. */
async function masterOf(key: string): Promise<string | undefined> {
  const slot = Number(await raw.cluster('KEYSLOT', key))
  return raw.slots[slot]?.[0]
}

/** The keys a child node (test/fixtures/pool/node.ts) runs now, from its `start` and `stop` lines. */
function runningIn(child: Child): Set<string> {
  const running = new Set<string>()
  for (const [what, , key] of child.lines.map((line) => line.split(' '))) {
    if (key === undefined) continue
    if (what === 'start') running.add(key)
    if (what === 'stop') running.delete(key)
  }
  return running
}

function sameKeys(running: ReadonlySet<string>, expected: readonly string[]): boolean {
  return running.size === expected.length && expected.every((key) => running.has(key))
}

/** Every key of the cluster that holds `{name}`, with the master it was found on. */
async function keysOf(name: string): Promise<{ key: string; master: string }[]> {
  const found: { key: string; master: string }[] = []
  for (const node of raw.nodes('master')) {
    const master = `${node.options.host}:${node.options.port}`
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `*{${name}}*`, 'COUNT', 500)
      cursor = next
      for (const key of keys) found.push({ key, master })
    } while (cursor !== '0')
  }
  return found
}

describe('a pool on a Redis Cluster', () => {
  it('dispatches each job to the worker its key hashes to, with its payload, once; stops, notifies, status and tickers work', async () => {
    pools = new ClusterPools()
    const name = pools.name()
    const node = await pools.join(name)
    const client = await pools.join(name, { clientOnly: true })
    expect(node.keyLayout).toBe('cluster')
    const handlers = [recorder(), recorder(), recorder()]
    for (const handler of handlers) await node.addWorker(handler)
    const keys = Array.from({ length: 30 }, (_, i) => `job-${i}`)
    await Promise.all(keys.map((key) => client.dispatchJob(key, `payload-${key}`)))
    for (const key of keys) {
      const owners = handlers.filter((h) => h.running.has(key))
      expect(owners, key).toEqual([handlers[jumpHash(key, 3)]])
      expect(owners[0]?.payloads.get(key)).toBe(`payload-${key}`)
    }
    expect(handlers.flatMap((h) => h.events.filter((e) => e.startsWith('start:'))).sort()).toEqual(
      keys.map((key) => `start:${key}`).sort(),
    )
    await client.notifyWorker('job-0', 'hello')
    await client.stopJob('job-1')
    const first = handlers[jumpHash('job-0', 3)]
    await until(() => first?.notes.includes('job-0:hello') === true, 5_000, 'the notification')
    await until(() => handlers.every((h) => !h.running.has('job-1')), 5_000, 'the stop')
    await expect
      .poll(() => node.jobKeys().sort(), { timeout: 5_000 })
      .toEqual(keys.filter((key) => key !== 'job-1').sort())
    const status = await readPoolStatus(redisClusterUrl(), name, { workerTtlMs: kSteady.workerTtlMs })
    expect(status?.nodes).toHaveLength(2)
    expect(status?.workers.map((w) => w.state)).toEqual(['active', 'active', 'active'])
    const ticker = await node.newTicker('tick', 20)
    expect((await ticker.next()).done).toBe(false)
    expect(await raw.hexists(`map:{${name}}:tickers:content`, `${name}:tick`)).toBe(1)
    await ticker.stop()
  })

  it('rebalances: a worker that joins on another node takes its bucket and gives it back when it leaves; shutdown destroys the pool', async () => {
    pools = new ClusterPools()
    const name = pools.name()
    const a = await pools.join(name)
    const b = await pools.join(name)
    const first = recorder()
    const second = recorder()
    await a.addWorker(first)
    const keys = Array.from({ length: 40 }, (_, i) => `job-${i}`)
    await Promise.all(keys.map((key) => b.dispatchJob(key, `payload-${key}`)))
    expect(first.running.size).toBe(40)
    const moving = keys.filter((key) => jumpHash(key, 2) === 1)
    expect(moving.length).toBeGreaterThan(5)
    const worker = await b.addWorker(second)
    await until(
      () => second.running.size === moving.length && first.running.size === keys.length - moving.length,
      15_000,
      'the rebalance onto the new worker',
    )
    expect([...second.running].sort()).toEqual([...moving].sort())
    for (const key of moving) expect(second.payloads.get(key)).toBe(`payload-${key}`)
    await b.removeWorker(worker)
    expect(second.running.size).toBe(0)
    await until(() => first.running.size === keys.length, 15_000, 'the jobs back on the first worker')
    for (const key of keys) expect(first.payloads.get(key)).toBe(`payload-${key}`)
    expect((await a.poolWorkers()).map((w) => w.id)).toEqual(a.workers().map((w) => w.id))

    await a.shutdown()
    await until(() => b.closed, 10_000, 'the other node to close')
    expect(b.isShutdown).toBe(true)
    expect(first.running.size).toBe(0)
    const left = await keysOf(name)
    expect(left.map(({ key }) => key).filter((key) => key.startsWith('pulse:stream:'))).toEqual([])
    for (const { key } of left)
      expect(
        (await raw.hkeys(key)).filter((f) => !f.startsWith('=')),
        key,
      ).toEqual([])
  })

  it('a killed node’s jobs restart on a live worker; its worker and node are removed', async () => {
    pools = new ClusterPools()
    const name = pools.name()
    const node = await pools.join(name, kDying)
    const local = recorder()
    await node.addWorker(local)
    const child = await pools.spawn(name, kDying)
    const [, childNode = '', childWorker = ''] = (await child.waitForLine(/^ready /)).split(' ')
    const keys = Array.from({ length: 20 }, (_, i) => `job-${i}`)
    await Promise.all(keys.map((key) => node.dispatchJob(key, `payload-${key}`)))
    // Workers in creation order: the local one is bucket 0, the child's bucket 1.
    const remote = keys.filter((key) => jumpHash(key, 2) === 1)
    expect(remote.length).toBeGreaterThan(3)
    const here = keys.filter((key) => !remote.includes(key))
    await until(
      () => sameKeys(local.running, here) && sameKeys(runningIn(child), remote),
      15_000,
      'each job on the worker of its bucket',
    )

    child.process.kill('SIGKILL')
    await child.exited
    await until(() => local.running.size === keys.length, 20_000, 'the killed node’s jobs to restart here')
    for (const key of remote) expect(local.payloads.get(key)).toBe(`payload-${key}`)
    // A cleaner removes the worker's entry, then its stream, then its cleanup lock (watchdog.actor.ts).
    await until(
      async () =>
        (await raw.hexists(`map:{${name}}:workers:content`, childWorker)) === 0 &&
        (await raw.hexists(`map:{${name}}:cleanup:content`, childWorker)) === 0 &&
        (await raw.hexists(`map:{${name}}:node-keepalive:content`, childNode)) === 0,
      20_000,
      'the dead worker and node to be removed',
    )
    expect(await raw.exists(`pulse:stream:{${name}}:worker:${childWorker}`)).toBe(0)
    expect(await raw.exists(`pulse:stream:{${name}}:node:${childNode}`)).toBe(0)
    expect(await raw.hexists(`map:{${name}}:jobs:content`, childWorker)).toBe(0)
  })

  it('keeps every key of a pool in one slot, and spreads pools over the masters', async () => {
    pools = new ClusterPools()
    const byMaster = new Map<string, string>()
    for (let i = 0; byMaster.size < 3 && i < 300; i++) {
      const name = pools.name(`s${i}`)
      const master = await masterOf(`{${name}}`)
      if (master !== undefined && !byMaster.has(master)) byMaster.set(master, name)
    }
    expect(byMaster.size).toBe(3)
    for (const name of byMaster.values()) {
      const node = await pools.join(name)
      await node.addWorker(recorder())
      await node.dispatchJob('one', 'x')
    }
    for (const [master, name] of byMaster) {
      const found = await keysOf(name)
      const kinds = found.map(({ key }) => key.replace(/^pulse:stream:\{[^}]*\}:(node|worker):.*$/, '$1 stream'))
      expect(kinds).toEqual(
        expect.arrayContaining([
          `map:{${name}}:workers:content`,
          `map:{${name}}:jobs:content`,
          `map:{${name}}:job-payloads:content`,
          `map:{${name}}:node-keepalive:content`,
          `pulse:stream:{${name}}:pool`,
          'node stream',
          'worker stream',
        ]),
      )
      expect(new Set(found.map((f) => f.master))).toEqual(new Set([master]))
      const slots = await Promise.all(found.map(({ key }) => raw.cluster('KEYSLOT', key)))
      expect(new Set(slots).size).toBe(1)
    }
  })

  it('refuses the compat layout at join and in readPoolStatus, with PULSE_ERR_INVALID_ARG', async () => {
    pools = new ClusterPools()
    const name = pools.name()
    const joining = PoolNode.join(redisClusterUrl(), name, { keyLayout: 'compat' })
    await expect(joining).rejects.toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
    await expect(joining).rejects.toThrow(/options\.keyLayout 'compat' cannot run on a Redis Cluster/)
    const { nodes } = parseClusterUrl(redisClusterUrl())
    const own = new Cluster([...nodes], { lazyConnect: true })
    await expect(PoolNode.join(own, name, { keyLayout: 'compat' })).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
    })
    expect(own.status).toBe('wait') // never connected
    await expect(readPoolStatus(own, name, { keyLayout: 'compat' })).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
    })
    own.disconnect()
    expect(await keysOf(name)).toEqual([])
  })
})
