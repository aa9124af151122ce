/**
 * The replicated maps' and the pools' metrics move as they work: a map's writes, applied updates and
 * keys; a pool's dispatches, rebalances, workers and jobs — and nothing is registered anywhere without
 * `metrics`.
 */
import { register as defaultRegistry, Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'

import { ReplicatedMap } from '../../../actors/rmap/index.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { Pools, recorder } from '../pool/helpers.js'
import { dropMap, mapName, until } from '../rmap/helpers.js'
import { metricValue } from './helpers.js'

const raw = useRawRedis()
const maps: ReplicatedMap[] = []
const names: string[] = []
let pools: Pools | undefined

afterEach(async () => {
  await Promise.all(maps.splice(0).map((map) => map.close()))
  await Promise.all(names.splice(0).map((name) => dropMap(raw, name)))
  await pools?.close(raw)
  pools = undefined
})

async function join(name: string, registry?: Registry): Promise<ReplicatedMap> {
  const map = await ReplicatedMap.join(redisUrl(), name, registry === undefined ? {} : { metrics: registry })
  maps.push(map)
  return map
}

describe('map metrics', () => {
  it('count writes and applied updates, and read the keys at scrape time', async () => {
    const registry = new Registry()
    const name = mapName()
    names.push(name)
    const map = await join(name, registry)
    await map.set('a', '1')
    await map.set('b', '2')
    await map.inc('n', 3)
    await until(map, () => map.size === 3)
    expect(await metricValue(registry, 'pulse_rmap_writes_total', { map: name })).toBe(3)
    expect(await metricValue(registry, 'pulse_rmap_updates_applied_total', { map: name })).toBe(3)
    expect(await metricValue(registry, 'pulse_rmap_keys', { map: name })).toBe(3)
    await map.delete('a')
    await until(map, () => map.size === 2)
    expect(await metricValue(registry, 'pulse_rmap_writes_total', { map: name })).toBe(4)
    expect(await metricValue(registry, 'pulse_rmap_keys', { map: name })).toBe(2)
    await map.close()
    // Closed: no copy to read any more.
    expect(await metricValue(registry, 'pulse_rmap_keys', { map: name })).toBeUndefined()
  })

  it('register nothing anywhere without metrics', async () => {
    const name = mapName()
    names.push(name)
    const map = await join(name)
    await map.set('a', '1')
    await until(map, () => map.size === 1)
    expect(defaultRegistry.getMetricsAsArray()).toEqual([])
  })
})

describe('pool metrics', () => {
  it('count dispatches by outcome and rebalances; read workers and jobs at scrape time', async () => {
    const registry = new Registry()
    pools = new Pools()
    const name = pools.name()
    const node = await pools.join(name, { metrics: registry })
    const labels = { pool: name }
    expect(await metricValue(registry, 'pulse_pool_workers', labels)).toBe(0)
    await node.addWorker(recorder({ failStart: (key) => (key === 'bad' ? new Error('no') : undefined) }))
    expect(await metricValue(registry, 'pulse_pool_workers', labels)).toBe(1)
    // Adding the worker changed the active workers: this node re-placed its (no) jobs.
    expect(await metricValue(registry, 'pulse_pool_rebalances_total', labels)).toBeGreaterThanOrEqual(1)

    await node.dispatchJob('one', 'x')
    await node.dispatchJob('two', 'y')
    await expect(node.dispatchJob('bad', 'z')).rejects.toThrow()
    expect(await metricValue(registry, 'pulse_pool_dispatches_total', { ...labels, outcome: 'started' })).toBe(2)
    expect(await metricValue(registry, 'pulse_pool_dispatches_total', { ...labels, outcome: 'failed' })).toBe(1)
    expect(await metricValue(registry, 'pulse_pool_jobs', labels)).toBe(2)

    const rebalances = (await metricValue(registry, 'pulse_pool_rebalances_total', labels)) ?? 0
    await node.addWorker(recorder())
    expect(await metricValue(registry, 'pulse_pool_workers', labels)).toBe(2)
    expect(await metricValue(registry, 'pulse_pool_rebalances_total', labels)).toBeGreaterThan(rebalances)
    // The node's watchdog actor, on the runtime the node started with the same registry.
    expect(await registry.getSingleMetricAsString('pulse_actor_messages_total')).toMatch(/actor="pool-watchdog/)
  })

  it('register nothing anywhere without metrics', async () => {
    pools = new Pools()
    const node = await pools.join(pools.name())
    await node.addWorker(recorder())
    await node.dispatchJob('one', 'x')
    expect(defaultRegistry.getMetricsAsArray()).toEqual([])
  })
})
