/** `readPoolStatus`: a pool's nodes, workers and jobs read from its maps, without joining it. */
import { afterEach, describe, expect, it } from 'vitest'

import { InvalidArgumentError, readPoolStatus } from '../../../actors/pool/index.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { Pools, recorder, until } from './helpers.js'

const raw = useRawRedis()
let pools: Pools
afterEach(async () => {
  await pools.close(raw)
})

describe('readPoolStatus', () => {
  it('lists the nodes, the active workers in pool order with the jobs each owns, and writes nothing', async () => {
    pools = new Pools()
    const name = pools.name()
    const node = await pools.join(name)
    const first = await node.addWorker(recorder())
    const second = await node.addWorker(recorder())
    const keys = ['a', 'b', 'c', 'd', 'e', 'f']
    for (const key of keys) await node.dispatchJob(key, `payload-${key}`)
    await until(() => node.jobKeys().length === keys.length, 5_000, 'the jobs replica')
    const before = await raw.keys(`map:${name}:*`)

    // A horizon of a minute: a keep-alive late on a loaded machine does not make a worker look dead here.
    const status = await readPoolStatus(redisUrl(), name, { workerTtlMs: 60_000 })
    expect(status?.name).toBe(name)
    expect(status?.shutdownBy).toBeUndefined()
    expect(status?.nodes).toEqual([{ id: node.id, alive: true, lastSeen: expect.any(Date) as Date }])
    expect(status?.workers.map((w) => [w.id, w.state])).toEqual([
      [first.id, 'active'],
      [second.id, 'active'],
    ])
    expect(status?.workers[0]?.createdAt).toEqual(first.createdAt)
    expect(status?.workers.flatMap((w) => w.jobs).sort()).toEqual(keys)
    expect(status?.unownedJobs).toEqual([])
    expect((await raw.keys(`map:${name}:*`)).sort()).toEqual(before.sort())
  })

  it('takes an ioredis client (left open); a dead worker and a job no worker owns show as such', async () => {
    pools = new Pools()
    const name = pools.name()
    // No node runs: a worker whose process died, still listed and owning a job, and a stored job nobody owns.
    const ghost = '01GHOST0000000000000000000'
    await raw.hset(`map:${name}:workers:content`, ghost, '1000000')
    await raw.hset(`map:${name}:jobs:content`, ghost, '["k2"]')
    await raw.hset(`map:${name}:job-payloads:content`, 'k2', 'x', 'k3', 'y')

    const status = await readPoolStatus(raw, name)
    expect(status).toEqual({
      name,
      shutdownBy: undefined,
      nodes: [],
      workers: [{ id: ghost, state: 'dead', createdAt: new Date(1), lastSeen: undefined, jobs: ['k2'] }],
      unownedJobs: ['k3'],
    })
    expect(await raw.ping()).toBe('PONG')
  })

  it('is undefined for a pool that does not exist; a bad name or option is refused', async () => {
    pools = new Pools()
    expect(await readPoolStatus(redisUrl(), pools.name('none'))).toBeUndefined()
    await expect(readPoolStatus(redisUrl(), 'bad name')).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(readPoolStatus(redisUrl(), pools.name(), { workerTtlMs: -1 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
  })

  it('rejects with the Redis error, typed, when a map key holds another type', async () => {
    pools = new Pools()
    const name = pools.name()
    await raw.set(`map:${name}:node-keepalive:content`, 'not a hash')
    await expect(readPoolStatus(raw, name)).rejects.toMatchObject({
      code: 'PULSE_ERR_REDIS_COMMAND',
      data: { reply: 'WRONGTYPE' },
    })
  })
})
