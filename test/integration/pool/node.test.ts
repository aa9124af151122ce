/** One node: dispatch, start errors, job exists, stop, notify, reads, close. */
import { afterEach, describe, expect, it } from 'vitest'

import {
  ClosedError,
  InvalidArgumentError,
  JobExistsError,
  RequeueError,
  WorkerStartError,
} from '../../../actors/pool/index.js'
import { useRawRedis } from '../../helpers/redis.js'
import { Pools, recorder, until } from './helpers.js'

const raw = useRawRedis()
let pools: Pools
afterEach(async () => {
  await pools.close(raw)
})

describe('PoolNode, one node', () => {
  it('dispatchJob resolves once start resolved; the job is owned and its payload kept', async () => {
    pools = new Pools()
    const name = pools.name()
    const node = await pools.join(name)
    const handler = recorder({ startMs: 50 })
    const worker = await node.addWorker(handler)
    expect(node.workers()).toEqual([worker])
    expect((await node.poolWorkers()).map((w) => w.id)).toEqual([worker.id])
    await node.dispatchJob('job-1', 'hello')
    expect(handler.running.has('job-1')).toBe(true)
    expect(handler.payloads.get('job-1')).toBe('hello')
    expect(node.jobPayload('job-1')?.toString()).toBe('hello')
    await until(() => node.jobKeys().includes('job-1'), 2_000, 'the jobs replica')
    await expect(node.dispatchJob('job-1', 'again')).rejects.toBeInstanceOf(JobExistsError)
    expect(handler.events).toEqual(['start:job-1'])
  })

  it('a start error rejects with WorkerStartError whose cause keeps class and code', async () => {
    pools = new Pools()
    const node = await pools.join(pools.name())
    class BillingError extends Error {
      override readonly name = 'BillingError'
      readonly code = 'E_BILLING'
    }
    await node.addWorker(
      recorder({
        failStart: (key) =>
          key === 'bad'
            ? new BillingError('card declined')
            : key === 'inv'
              ? new InvalidArgumentError('no such plan')
              : undefined,
      }),
    )
    const error = await node.dispatchJob('bad', 'x').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WorkerStartError)
    expect((error as WorkerStartError).code).toBe('PULSE_ERR_POOL_WORKER_START')
    const cause = (error as Error).cause as Error & { code?: string }
    expect(cause.message).toBe('card declined')
    expect(cause.name).toBe('BillingError')
    expect(cause.code).toBe('E_BILLING')
    const invalid = await node.dispatchJob('inv', 'x').catch((e: unknown) => e)
    expect((invalid as Error).cause).toBeInstanceOf(InvalidArgumentError)
    // A failed fresh start leaves nothing: the key can be dispatched again.
    expect(node.jobPayload('bad')).toBeUndefined()
    expect(await raw.hexists(`map:${node.name}:job-payloads:content`, 'bad')).toBe(0)
    await node.dispatchJob('good', 'x')
  })

  it('stopJob reaches the owner; ownership and payload are gone', async () => {
    pools = new Pools()
    const node = await pools.join(pools.name())
    const handler = recorder()
    await node.addWorker(handler)
    await node.dispatchJob('a', '1')
    await node.stopJob('a')
    await until(() => !handler.running.has('a'), 5_000, 'the stop')
    await until(() => node.jobPayload('a') === undefined && !node.jobKeys().includes('a'), 5_000, 'the release')
    expect(handler.events).toEqual(['start:a', 'stop:a'])
    // A stop for a job that does not exist is dropped.
    await node.stopJob('nothing')
    await node.dispatchJob('a', '2')
    expect(handler.payloads.get('a')).toBe('2')
  })

  it('notifyWorker reaches the owner; without notify it is dropped and the job runs on', async () => {
    pools = new Pools()
    const node = await pools.join(pools.name())
    const handler = recorder()
    await node.addWorker(handler)
    await node.dispatchJob('k', 'p')
    await node.notifyWorker('k', 'ping')
    await until(() => handler.notes.length === 1, 5_000, 'the notification')
    expect(handler.notes).toEqual(['k:ping'])

    const other = await pools.join(pools.name('silent'))
    const silent = recorder({ notify: false })
    await other.addWorker(silent)
    await other.dispatchJob('k', 'p')
    await other.notifyWorker('k', 'ping')
    await other.stopJob('k')
    await until(() => silent.events.includes('stop:k'), 5_000, 'the stop after the notification')
  })

  it('a client-only node dispatches, notifies and stops, runs no worker, and closes cleanly', async () => {
    pools = new Pools()
    const name = pools.name()
    const full = await pools.join(name)
    const handler = recorder()
    await full.addWorker(handler)
    const client = await pools.join(name, { clientOnly: true })
    expect(client.clientOnly).toBe(true)
    await expect(client.addWorker(recorder())).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(client.newTicker('t', 100)).rejects.toBeInstanceOf(InvalidArgumentError)
    await client.dispatchJob('c1', 'payload')
    expect(handler.running.has('c1')).toBe(true)
    await client.notifyWorker('c1', 'hi')
    await client.stopJob('c1')
    await until(
      () => handler.notes.includes('c1:hi') && !handler.running.has('c1'),
      5_000,
      'the notification and the stop',
    )
    expect(client.jobKeys()).toEqual([])
    expect(client.jobPayload('c1')).toBeUndefined()
    expect((await client.poolWorkers()).length).toBe(1)
    await client.close()
    expect(await raw.hexists(`map:${name}:node-keepalive:content`, client.id)).toBe(0)
    expect(await raw.exists(`pulse:stream:${name}:node:${client.id}`)).toBe(0)
  })

  it('validates arguments and refuses calls after close', async () => {
    pools = new Pools()
    const node = await pools.join(pools.name())
    await expect(node.dispatchJob('', 'x')).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(node.dispatchJob('a=b', 'x')).rejects.toBeInstanceOf(InvalidArgumentError)
    await node.close()
    await expect(node.dispatchJob('a', 'x')).rejects.toBeInstanceOf(ClosedError)
    await node.close()
  })
})

describe('RequeueError from a handler', () => {
  it('is not acknowledged: the start, stop or notification comes back after the grace period', async () => {
    pools = new Pools()
    const node = await pools.join(pools.name(), { ackGracePeriodMs: 300 })
    const handler = recorder()
    const calls = { start: 0, stop: 0, notify: 0 }
    const start = handler.start.bind(handler)
    const stop = handler.stop.bind(handler)
    handler.start = async (job) => {
      if (calls.start++ === 0) throw new RequeueError('not yet')
      await start(job)
    }
    handler.stop = async (key) => {
      if (calls.stop++ === 0) throw new RequeueError('busy')
      await stop(key)
    }
    handler.notify = (key, payload) => {
      if (calls.notify++ === 0) throw new RequeueError('later')
      handler.notes.push(`${key}:${payload.toString()}`)
    }
    await node.addWorker(handler)
    // The dispatch waits 2 × 300 ms; the first start asks to be requeued, the second (≥ 300 ms later) runs.
    await node.dispatchJob('later', 'x')
    expect(calls.start).toBe(2)
    expect(handler.running.has('later')).toBe(true)
    await node.notifyWorker('later', 'n')
    await until(() => handler.notes.includes('later:n'), 5_000, 'the redelivered notification')
    expect(calls.notify).toBe(2)
    await node.stopJob('later')
    await until(
      () => !handler.running.has('later') && node.jobPayload('later') === undefined,
      5_000,
      'the redelivered stop',
    )
    expect(calls.stop).toBe(2)
  })
})
