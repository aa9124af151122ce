/**
 * The dashboard's list pages find objects on every master of a cluster (dashboard/redis-scan.ts), by the
 * names their keys carry, hash tags included.
 */
import { randomUUID } from 'node:crypto'

import { afterAll, describe, expect, it } from 'vitest'

import { Stream } from '../../../actors/streaming/index.js'
import { between, scanNames } from '../../../dashboard/redis-scan.js'
import { keySlot } from '../../../transports/redis/cluster-slots.js'
import { deleteOnCluster, useRawCluster } from '../../helpers/redis.js'
import { redisClusterUrl } from '../../helpers/servers.js'

const raw = useRawCluster()
const tag = `dash-${randomUUID().slice(0, 8)}`

afterAll(async () => {
  await deleteOnCluster(raw, `pulse:stream:{${tag}-*`)
})

describe('the dashboard on a Redis Cluster', () => {
  it('lists the streams of every master, named as their keys name them', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `${tag}-${i}`)
    for (const name of names) {
      const stream = new Stream(redisClusterUrl(), name)
      await stream.add('e', Buffer.from('x'))
      await stream.close()
    }
    const masters = new Set(names.map((name) => raw.slots[keySlot(`pulse:stream:{${name}}`)]?.[0]))
    expect(masters.size).toBe(3)
    const found = await scanNames(raw, `pulse:stream:{${tag}-*`, (key) => between(key, 'pulse:stream:', ''), {
      type: 'stream',
    })
    expect(found).toEqual({ names: names.map((name) => `{${name}}`).sort(), truncated: false })
  })
})
