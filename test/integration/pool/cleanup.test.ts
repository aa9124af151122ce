/** Cleanup: dead workers and nodes, orphaned payloads, requeued failures, frozen event loops. */
import { afterEach, describe, expect, it } from 'vitest'

import type { Logger } from '../../../runtime/logger.js'
import { useRawRedis } from '../../helpers/redis.js'
import { kFast, Pools, recorder, until } from './helpers.js'

const raw = useRawRedis()
let pools: Pools
afterEach(async () => {
  await pools.close(raw)
})

function capture(): Logger & { messages: string[] } {
  const messages: string[] = []
  const push = (...args: unknown[]) => {
    const message = args.find((a) => typeof a === 'string')
    if (typeof message === 'string') messages.push(message)
  }
  return { messages, debug: () => {}, info: push, warn: push, error: push }
}

const longAgo = String(BigInt(Date.now() - 60_000) * 1_000_000n)

/** Writes a worker that looks dead: registered, owning `keys`, with a stale keep-alive. */
async function plantDeadWorker(pool: string, wid: string, keys: string[]): Promise<void> {
  await raw.hset(`map:${pool}:workers:content`, wid, longAgo)
  await raw.hset(`map:${pool}:worker-keepalive:content`, wid, longAgo)
  await raw.hset(`map:${pool}:jobs:content`, wid, JSON.stringify(keys))
  for (const key of keys) await raw.hset(`map:${pool}:job-payloads:content`, key, `payload-${key}`)
  await raw.xadd(`pulse:stream:worker:${wid}`, '*', 'n', 'i', 'p', 'x')
}

describe('cleanup sweeps', () => {
  it('a dead worker is cleaned by exactly one of three nodes; its jobs restart on live workers', async () => {
    pools = new Pools()
    const name = pools.name()
    const loggers = [capture(), capture(), capture()]
    const handlers = [recorder(), recorder(), recorder()]
    for (let i = 0; i < 3; i++) {
      const node = await pools.join(name, { logger: loggers[i] })
      await node.addWorker(handlers[i]!)
    }
    const wid = 'DEADWORKER0000000000000001'
    const keys = ['d1', 'd2', 'd3', 'd4']
    await plantDeadWorker(name, wid, keys)
    await until(
      () => keys.every((key) => handlers.some((h) => h.running.has(key))),
      10_000,
      'the dead worker’s jobs to restart',
    )
    await until(
      async () => (await raw.hexists(`map:${name}:workers:content`, wid)) === 0,
      5_000,
      'the dead worker to leave',
    )
    expect(await raw.hexists(`map:${name}:worker-keepalive:content`, wid)).toBe(0)
    expect(await raw.hexists(`map:${name}:jobs:content`, wid)).toBe(0)
    expect(await raw.hexists(`map:${name}:cleanup:content`, wid)).toBe(0)
    expect(await raw.exists(`pulse:stream:worker:${wid}`)).toBe(0)
    const cleaners = loggers.filter((l) => l.messages.includes('pool: removed a dead worker'))
    expect(cleaners).toHaveLength(1)
    for (const key of keys) {
      const owner = handlers.find((h) => h.running.has(key))
      expect(owner?.payloads.get(key)).toBe(`payload-${key}`)
    }
    expect(handlers.reduce((n, h) => n + h.events.filter((e) => e.startsWith('start:')).length, 0)).toBe(4)
  })

  it('a dead node’s stream and keep-alive are removed', async () => {
    pools = new Pools()
    const name = pools.name()
    const node = await pools.join(name)
    await node.addWorker(recorder())
    await node.dispatchJob('one', 'x') // this node's consumer exists once it read an event
    const dead = 'DEADNODE000000000000000001'
    await raw.hset(`map:${name}:node-keepalive:content`, dead, longAgo)
    await raw.xadd(`pulse:stream:${name}:node:${dead}`, '*', 'n', 'i', 'p', dead)
    await raw.call('XGROUP', 'CREATECONSUMER', `pulse:stream:${name}:pool`, 'events', dead)
    await until(
      async () => (await raw.exists(`pulse:stream:${name}:node:${dead}`)) === 0,
      5_000,
      'the dead node’s stream to go',
    )
    await until(
      async () => (await raw.hexists(`map:${name}:node-keepalive:content`, dead)) === 0,
      5_000,
      'the keep-alive to go',
    )
    expect(await raw.hexists(`map:${name}:node-keepalive:content`, node.id)).toBe(1)
    // Its consumer in the pool stream's group goes too (nothing was pending on it); ours stays.
    const consumers = async () =>
      ((await raw.call('XINFO', 'CONSUMERS', `pulse:stream:${name}:pool`, 'events')) as unknown[][]).map((c) =>
        String(c[1]),
      )
    await until(async () => !(await consumers()).includes(dead), 5_000, 'the dead node’s consumer to go')
    expect(await consumers()).toContain(node.id)
  })

  it('an orphaned payload is requeued after max(2 × ttl, grace); a requeued job whose start fails keeps its payload', async () => {
    pools = new Pools()
    const name = pools.name()
    const node = await pools.join(name)
    const handler = recorder({ failStart: (key) => (key === 'orphan-bad' ? new Error('nope') : undefined) })
    await node.addWorker(handler)
    const seenAt = Date.now()
    await raw.hset(`map:${name}:job-payloads:content`, 'orphan', 'o')
    await raw.hset(`map:${name}:job-payloads:content`, 'orphan-bad', 'b')
    await until(() => handler.running.has('orphan'), 10_000, 'the orphan to restart')
    expect(Date.now() - seenAt).toBeGreaterThanOrEqual(2 * (kFast.workerTtlMs ?? 0))
    expect(handler.payloads.get('orphan')).toBe('o')
    // A requeued job whose start failed keeps its payload (a fresh one would lose it): orphan recovery
    // finds it again and retries it, which it could not do without the payload.
    const tries = () => handler.events.filter((e) => e === 'start:orphan-bad').length
    await until(() => tries() >= 2, 10_000, 'the failing orphan to be tried, then retried by orphan recovery')
    expect(await raw.hget(`map:${name}:job-payloads:content`, 'orphan-bad')).toBe('b')
  })

  it('a handler that blocks its event loop for 5 × ttl is not declared dead (keep-alives run on the watchdog thread)', async () => {
    pools = new Pools()
    const name = pools.name()
    const watcher = capture()
    const node = await pools.join(name)
    const other = await pools.join(name, { logger: watcher })
    const handler = recorder()
    const worker = await node.addWorker(handler)
    await other.addWorker(recorder())
    for (let i = 0; i < 6; i++) await node.dispatchJob(`b-${i}`, 'x')
    const before = [...handler.running]
    const until5 = Date.now() + 5 * node.options.workerTtlMs
    while (Date.now() < until5) {
      // blocked
    }
    // Let the sweeps that ran meanwhile report, then one more full sweep period (a negative check).
    await new Promise((resolve) => setTimeout(resolve, 2 * node.options.workerTtlMs))
    expect(watcher.messages).not.toContain('pool: removed a dead worker')
    expect(await raw.hexists(`map:${name}:workers:content`, worker.id)).toBe(1)
    expect([...handler.running]).toEqual(before)
  })
})
