/**
 * Scenario 19 and the reconnect contract, on a PRIVATE redis-server (stopping the shared one would
 * disturb other files): when its subscription drops, a replica keeps serving reads, resubscribes with
 * backoff, reloads, and emits ONE notification of the strongest kind; a reload behind the local
 * revision (data lost while away) is a regression and wins.
 */
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { RedisConnectionError, ReplicatedMap } from '../../../actors/rmap/index.js'
import type { MapEventKind, ReplicatedMapLogger } from '../../../actors/rmap/index.js'
import { LocalRedis } from '../../../cli/local-servers/redis-server.js'
import { withTimeout } from '../../../runtime/lifecycle.js'
import { mapName, plainClient, until } from './helpers.js'
import { TcpProxy } from './proxy.js'

let server: LocalRedis
let proxy: TcpProxy
let raw: Redis

beforeAll(async () => {
  server = await LocalRedis.start({ persist: true })
  proxy = await TcpProxy.start(server.port)
  raw = plainClient(server.url)
  await raw.ping()
})

afterAll(async () => {
  raw.disconnect()
  await proxy.close()
  await server.close()
})

/** A logger that lets a test wait for a message. */
function recordingLogger(): {
  logger: ReplicatedMapLogger
  messages: string[]
  next(pattern: RegExp, ms?: number): Promise<void>
} {
  const messages: string[] = []
  const waiters: { pattern: RegExp; resolve: () => void; from: number }[] = []
  const log = (_fields: unknown, message: unknown) => {
    messages.push(String(message))
    for (const waiter of waiters.filter((w) => w.pattern.test(String(message)))) {
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve()
    }
  }
  return {
    logger: { debug: () => {}, info: log, warn: log, error: log },
    messages,
    next(pattern, ms = 10_000) {
      return withTimeout(
        new Promise<void>((resolve) => waiters.push({ pattern, resolve, from: messages.length })),
        ms,
        () => new Error(`no log matching ${pattern} within ${ms} ms: ${messages.join(' | ')}`),
      )
    },
  }
}

/** Records every notification of `map` until it closes. */
function record(map: ReplicatedMap): MapEventKind[] {
  const kinds: MapEventKind[] = []
  const feed = map.subscribe()
  void (async () => {
    for await (const kind of feed) kinds.push(kind)
  })()
  return kinds
}

describe('a dropped subscription', () => {
  it('keeps serving reads, then reloads with one notification of the strongest kind (a reset while away)', async () => {
    // Like TestReconnectPreservesResetEvent of v1.6.5: the stored =kind says the map was reset.
    const name = mapName()
    const log = recordingLogger()
    const cutOff = await ReplicatedMap.join(proxy.url, name, { logger: log.logger })
    const writer = await ReplicatedMap.join(server.url, name)
    try {
      await writer.set('a', '1')
      await writer.setAndWait('b', '2')
      await until(cutOff, () => cutOff.get('b') === '2')
      const kinds = record(cutOff)

      const down = log.next(/disconnected/)
      await proxy.cut()
      await down
      // While away: writes, then a reset. The cut-off replica still serves its last copy.
      await writer.set('c', '3')
      await writer.delete('a')
      await writer.reset()
      expect(cutOff.toObject()).toEqual({ a: '1', b: '2' })
      await expect(cutOff.set('x', 'y')).rejects.toBeInstanceOf(RedisConnectionError)

      await proxy.restore()
      await until(cutOff, () => cutOff.size === 0, 15_000, 'the reload')
      expect(kinds).toEqual(['reset'])
      expect(cutOff.stats.reconnects).toBe(1)
      expect(cutOff.stats.regressions).toBe(0)
      expect(log.messages.some((m) => /reconnected/.test(m))).toBe(true)

      // And it is live again.
      await writer.set('e', '5')
      await until(cutOff, () => cutOff.get('e') === '5')
      expect(kinds).toEqual(['reset', 'change'])
      await cutOff.setAndWait('f', '6')
      await until(writer, () => writer.get('f') === '6')
    } finally {
      await proxy.restore()
      await cutOff.close()
      await writer.close()
      await raw.del(`map:${name}:content`)
    }
  })

  it('notifies a delete as delete, and treats a reload behind its revision as a regression', async () => {
    const name = mapName()
    const log = recordingLogger()
    const cutOff = await ReplicatedMap.join(proxy.url, name, { logger: log.logger })
    const writer = await ReplicatedMap.join(server.url, name)
    try {
      for (let i = 0; i < 5; i++) await writer.set(`k${i}`, String(i))
      await until(cutOff, () => cutOff.size === 5)
      const kinds = record(cutOff)

      let down = log.next(/disconnected/)
      await proxy.cut()
      await down
      await writer.delete('k0')
      await writer.set('k1', 'changed')
      await proxy.restore()
      await until(cutOff, () => !cutOff.has('k0') && cutOff.get('k1') === 'changed', 15_000, 'the first reload')
      expect(kinds).toEqual(['delete'])

      down = log.next(/disconnected/)
      await proxy.cut()
      await down
      // The hash is lost and rewritten while away: rev 1 < the replica's rev 7.
      await raw.del(`map:${name}:content`)
      await writer.set('new', 'gen')
      await proxy.restore()
      await until(cutOff, () => cutOff.get('new') === 'gen' && cutOff.size === 1, 15_000, 'the second reload').catch(
        (e: unknown) => {
          throw new Error(
            `${String(e)} ${JSON.stringify(cutOff.stats)} ${JSON.stringify(cutOff.toObject())} ${log.messages.join(' | ')}`,
          )
        },
      )
      expect(cutOff.revision).toBe(1)
      expect(kinds).toEqual(['delete', 'reset'])
      expect(cutOff.stats.regressions).toBe(1)
    } finally {
      await proxy.restore()
      await cutOff.close()
      await writer.close()
      await raw.del(`map:${name}:content`)
    }
  })

  it('closes promptly while disconnected', async () => {
    const name = mapName()
    const log = recordingLogger()
    const cutOff = await ReplicatedMap.join(proxy.url, name, { logger: log.logger })
    const down = log.next(/disconnected/)
    await proxy.cut()
    try {
      await down
      const started = performance.now()
      await cutOff.close()
      expect(performance.now() - started).toBeLessThan(3_000)
    } finally {
      await proxy.restore()
    }
  })
})

describe('a server restart', () => {
  it('keeps serving reads while the server is down, then catches up with one notification', async () => {
    const name = mapName()
    const log = recordingLogger()
    const replica = await ReplicatedMap.join(server.url, name, { logger: log.logger })
    try {
      await replica.setAndWait('k', '1')
      const kinds = record(replica)
      const down = log.next(/disconnected/)
      await server.stop()
      await down
      expect(replica.get('k')).toBe('1')
      await expect(replica.set('k', 'x')).rejects.toBeInstanceOf(RedisConnectionError)

      await server.start()
      // Another process writes as soon as the server is back (persisted: the data survived).
      const writer = await ReplicatedMap.join(server.url, name)
      try {
        await writer.set('k', '2')
        await until(replica, () => replica.get('k') === '2', 15_000, 'the catch-up')
        // Whether the reload or the frame brought it: one notification.
        expect(kinds).toEqual(['change'])
        await until(writer, () => writer.get('k') === '2')
      } finally {
        await writer.close()
      }
      await replica.setAndWait('k', '3')
      expect(kinds).toEqual(['change', 'change'])
    } finally {
      await replica.close()
      await raw.del(`map:${name}:content`).catch(() => 0)
    }
  })

  it('empties a replica whose data the server lost (no =rev on reload): one reset', async () => {
    const name = mapName()
    const log = recordingLogger()
    const replica = await ReplicatedMap.join(server.url, name, { logger: log.logger })
    try {
      await replica.setAndWait('k', '1')
      const kinds = record(replica)
      const down = log.next(/disconnected/)
      await server.stop()
      await down
      // Lose the data: as if the server came back from an old or missing dump.
      const { rmSync } = await import('node:fs')
      rmSync(`${server.dir}/appendonlydir`, { recursive: true, force: true })
      await server.start()
      await until(replica, () => replica.size === 0, 15_000, 'the reload')
      expect(kinds).toEqual(['reset'])
      expect(replica.revision).toBe(0)
      await replica.setAndWait('k', 'again')
      expect(replica.toObject()).toEqual({ k: 'again' })
    } finally {
      await replica.close()
      await raw.del(`map:${name}:content`).catch(() => 0)
    }
  })
})

describe('an unreachable server', () => {
  it('fails a join with RedisConnectionError and leaves nothing open', async () => {
    await proxy.cut()
    try {
      await expect(ReplicatedMap.join(proxy.url, mapName())).rejects.toBeInstanceOf(RedisConnectionError)
    } finally {
      await proxy.restore()
    }
  })
})
