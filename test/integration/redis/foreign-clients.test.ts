/**
 * Clients made by another copy of ioredis — the application's own 5.x or 6.x install, not Pulse's — are
 * accepted by every feature (recognised by what they can do, not by their class); a `Cluster` client is
 * refused at once with a clear error instead of a CROSSSLOT at run time.
 */
import { randomUUID } from 'node:crypto'

import { Redis as Redis5 } from 'ioredis5'
import { Cluster as Cluster6, Redis as Redis6 } from 'ioredis6'
import type { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'

import { Bus } from '../../../actors/bus/index.js'
import { PoolNode } from '../../../actors/pool/index.js'
import { ReplicatedMap } from '../../../actors/rmap/index.js'
import { Runtime } from '../../../actors/runtime/index.js'
import { Stream } from '../../../actors/streaming/index.js'
import { redisUrl } from '../../helpers/servers.js'

const unique = (prefix: string): string => `${prefix}${randomUUID().slice(0, 8)}`

const copies = {
  'ioredis 5 (a separate copy)': (): Redis => new Redis5(redisUrl()) as unknown as Redis,
  'ioredis 6 (a separate install)': (): Redis => new Redis6(redisUrl()),
}

describe.each(Object.entries(copies))('a client of %s', (_label, make) => {
  it('serves a replicated map, a stream, a pool node, the bus and a runtime', async () => {
    const client = make()
    try {
      const map = await ReplicatedMap.join(client, unique('fc-map-'))
      await map.setAndWait('k', 'v')
      expect(map.get('k')).toBe('v')
      await map.destroy()
      await map.close()

      const stream = new Stream(client, unique('fc-stream-'))
      expect(await stream.add('e', 'payload')).toMatch(/^\d+-\d+$/)
      await stream.destroy()

      const node = await PoolNode.join(client, unique('fcpool'))
      await node.shutdown()

      const ns = unique('fcbus')
      const bus = await Bus.connect(client, { namespaces: [ns], keyPrefix: `${ns}:` })
      expect((await bus.put(`${ns}.x`, 'p')).id).toMatch(/^e_/)
      await bus.close()

      const rt = await Runtime.start({ redis: client })
      expect(rt.stream(unique('fc-rt-'))).toBeInstanceOf(Stream)
      await rt.close()
      expect(await client.ping()).toBe('PONG') // the caller's client is left open
    } finally {
      await client.quit()
    }
  })
})

describe('a Cluster client', () => {
  it('is refused at once, naming the reason', async () => {
    const cluster = new Cluster6([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true })
    try {
      const refusal = { code: 'PULSE_ERR_INVALID_ARG', message: /Cluster/ }
      const client = cluster as unknown as Redis
      await expect(ReplicatedMap.join(client, 'm')).rejects.toMatchObject(refusal)
      await expect(PoolNode.join(client, 'p')).rejects.toMatchObject(refusal)
      await expect(Bus.connect(client, { namespaces: ['n'] })).rejects.toMatchObject(refusal)
      await expect(Runtime.start({ redis: client })).rejects.toMatchObject(refusal)
      expect(() => new Stream(client, 's')).toThrow(/Cluster/)
    } finally {
      cluster.disconnect()
    }
  })
})
