/** Dispatch: concurrent claims, existing jobs and guards, timeouts, admission, slow starts. */
import { afterEach, describe, expect, it, vi } from 'vitest'

import {
  DispatchTimeoutError,
  JobExistsError,
  PoolShuttingDownError,
  QueueFullError,
} from '../../../actors/pool/index.js'
import { ProtocolError } from '../../../runtime/errors.js'
import { useRawRedis } from '../../helpers/redis.js'
import { Pools, recorder, until } from './helpers.js'

const raw = useRawRedis()
let pools: Pools
afterEach(async () => {
  await pools.close(raw)
})

const pendingKey = (pool: string) => `map:${pool}:pending-jobs:content`
const payloadKey = (pool: string) => `map:${pool}:job-payloads:content`

describe('dispatchJob', () => {
  it('of one key from two nodes at once: exactly one succeeds, the other gets JobExistsError', async () => {
    pools = new Pools()
    const name = pools.name()
    // A generous grace period: under load, 2 × 100 ms can pass before 20 concurrent starts are acked.
    const a = await pools.join(name, { ackGracePeriodMs: 1_000 })
    const b = await pools.join(name, { ackGracePeriodMs: 1_000 })
    const handler = recorder({ startMs: 20 })
    await a.addWorker(handler)
    for (let round = 0; round < 5; round++) {
      const key = `k${round}`
      const results = await Promise.allSettled([a.dispatchJob(key, 'a'), b.dispatchJob(key, 'b')])
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      const rejected = results.filter((r) => r.status === 'rejected')
      expect(rejected).toHaveLength(1)
      expect((rejected[0] as PromiseRejectedResult).reason).toBeInstanceOf(JobExistsError)
    }
    // 20 concurrent claims of one key: one wins.
    const twenty = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).dispatchJob('many', String(i))),
    )
    expect(twenty.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    expect(twenty.filter((r) => r.status === 'rejected' && r.reason instanceof JobExistsError)).toHaveLength(19)
    expect(handler.events.filter((e) => e === 'start:many')).toHaveLength(1)
  })

  it('refuses a key whose payload exists in Redis and leaves no guard; replaces a stale guard; a malformed guard is a ProtocolError', async () => {
    pools = new Pools()
    const name = pools.name()
    const node = await pools.join(name)
    await node.addWorker(recorder())
    // The payload exists in Redis only (the replica has not seen it: written behind its back).
    await raw.hset(payloadKey(name), 'ghost', 'x')
    await expect(node.dispatchJob('ghost', 'y')).rejects.toBeInstanceOf(JobExistsError)
    expect(await raw.hexists(pendingKey(name), 'ghost')).toBe(0)
    // A stale guard (expired) is replaced.
    await raw.hset(pendingKey(name), 'stale', '1000')
    await node.dispatchJob('stale', 'z')
    // A malformed guard is not JobExistsError.
    await raw.hset(pendingKey(name), 'bad', 'not-a-number')
    const error = await node.dispatchJob('bad', 'z').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error).not.toBeInstanceOf(JobExistsError)
  })

  it('with only client-only nodes: times out after 2 × ackGracePeriodMs, releases its guard, and fills the queue', async () => {
    pools = new Pools()
    const name = pools.name()
    const client = await pools.join(name, { clientOnly: true, maxQueuedJobs: 2, ackGracePeriodMs: 100 })
    const started = Date.now()
    await expect(client.dispatchJob('a', '1')).rejects.toBeInstanceOf(DispatchTimeoutError)
    expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    expect(await raw.hexists(pendingKey(name), 'a')).toBe(0)
    await expect(client.dispatchJob('b', '1')).rejects.toBeInstanceOf(DispatchTimeoutError)
    // Two unconsumed jobs are queued: the third is refused at once, nothing written.
    const error = await client.dispatchJob('c', '1').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(QueueFullError)
    expect((error as QueueFullError).code).toBe('PULSE_ERR_POOL_QUEUE_FULL')
    expect(await raw.xlen(`pulse:stream:${name}:pool`)).toBe(2)
    expect(await raw.hexists(pendingKey(name), 'c')).toBe(0)
    expect(client.jobKeys()).toEqual([])
    await client.close()
  })

  it('releases its guard on timeout only while the guard is still its own', async () => {
    pools = new Pools()
    const name = pools.name()
    const client = await pools.join(name, { clientOnly: true, ackGracePeriodMs: 150 })
    const dispatch = client.dispatchJob('mine', '1').catch((e: unknown) => e)
    await until(async () => (await raw.hexists(pendingKey(name), 'mine')) === 1, 2_000, 'the guard')
    // Another dispatcher's guard replaced it (e.g. after this one's expired): the timeout must keep it.
    const theirs = String(BigInt(Date.now() + 60_000) * 1_000_000n)
    await raw.hset(pendingKey(name), 'mine', theirs)
    expect(await dispatch).toBeInstanceOf(DispatchTimeoutError)
    expect(await raw.hget(pendingKey(name), 'mine')).toBe(theirs)
    await client.close()
  })

  it('a refused dispatch in the same millisecond as the winner leaves the winner’s guard alone', async () => {
    pools = new Pools()
    const name = pools.name()
    const client = await pools.join(name, { clientOnly: true, maxQueuedJobs: 10, ackGracePeriodMs: 500 })
    // Both dispatches read one clock value, so both compute the same pending-until.
    const now = vi.spyOn(Date, 'now').mockReturnValue(Date.now())
    const winner = client.dispatchJob('same', '1').catch((e: unknown) => e)
    await until(async () => (await raw.hexists(pendingKey(name), 'same')) === 1, 2_000, 'the guard')
    const guard = await raw.hget(pendingKey(name), 'same')
    await expect(client.dispatchJob('same', '2')).rejects.toBeInstanceOf(JobExistsError)
    now.mockRestore()
    expect(await raw.hget(pendingKey(name), 'same')).toBe(guard)
    await expect(client.dispatchJob('same', '3')).rejects.toBeInstanceOf(JobExistsError)
    expect(await winner).toBeInstanceOf(DispatchTimeoutError)
    await client.close()
  })

  it('admission counts unconsumed jobs only: once a worker consumes them, dispatches are admitted again', async () => {
    pools = new Pools()
    const name = pools.name()
    const node = await pools.join(name, { maxQueuedJobs: 3 })
    const handler = recorder()
    await node.addWorker(handler)
    for (let i = 0; i < 10; i++) await node.dispatchJob(`j${i}`, 'x')
    expect(handler.running.size).toBe(10)
    // The router settles (XACK + XDEL) each event right after it relayed the outcome.
    await until(async () => (await raw.xlen(`pulse:stream:${name}:pool`)) === 0, 5_000, 'the pool stream to empty')
  })

  it('a start slower than the ack grace period is called once', async () => {
    pools = new Pools()
    // The start lasts until the event was redelivered (after the 1 s grace) and handed over again; the
    // dispatch waits up to 2 × 1 s.
    const node = await pools.join(pools.name(), { ackGracePeriodMs: 1_000, workerTtlMs: 200 })
    let stream = ''
    const handoffs = async () => (await raw.xrange(stream, '-', '+')).filter(([, fields]) => fields[1] === 'j').length
    const handler = recorder()
    const start = handler.start.bind(handler)
    handler.start = async (job) => {
      await until(async () => (await handoffs()) >= 2, 1_900, 'a second handoff of the start event')
      await start(job)
    }
    const worker = await node.addWorker(handler)
    stream = `pulse:stream:worker:${worker.id}`
    await node.dispatchJob('slow', 'x')
    expect(handler.events).toEqual(['start:slow'])
    expect(await handoffs()).toBeGreaterThanOrEqual(2)
    // The redelivered event is acknowledged from the outcome: it leaves the pool stream.
    await until(async () => (await raw.xlen(`pulse:stream:${node.name}:pool`)) === 0, 5_000, 'the pool stream to empty')
    expect(handler.events).toEqual(['start:slow'])
  })

  it('is refused while the pool shuts down', async () => {
    pools = new Pools()
    const name = pools.name()
    const node = await pools.join(name)
    await raw.eval(
      "redis.call('HSET', KEYS[1], 'shutdown', 'someone'); redis.call('PUBLISH', KEYS[2], 'set:' .. struct.pack('ic0ic0ic0', 8, 'shutdown', 7, 'someone', 1, '9'))",
      2,
      `map:${name}:shutdown:content`,
      `map:${name}:shutdown:updates`,
    )
    await expect(pools.join(name)).rejects.toBeInstanceOf(PoolShuttingDownError)
    await node.close()
  })
})
