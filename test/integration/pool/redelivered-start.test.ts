/**
 * A dispatch event that comes again after its job ran and moved (its router died before settling it)
 * can reach the job's new worker ahead of the requeue. That start is a requeued one (`job.requeued`):
 * the job's payload is stored, it ran before. The chaos scenario met it (a restart after a rebalance
 * that the handler saw as a fresh dispatch); here the requeue is taken out of the pool stream and the
 * original dispatch event put back by hand.
 */
import { afterEach, expect, it } from 'vitest'

import type { WorkerHandler } from '../../../actors/pool/index.js'
import { encodeJob } from '../../../transports/redis/pool/codec.js'
import { kPoolSinkName, poolStreamName, streamKey } from '../../../transports/redis/pool/keys.js'
import { useRawRedis } from '../../helpers/redis.js'
import { Pools, until } from './helpers.js'

const raw = useRawRedis()
let pools: Pools
afterEach(async () => {
  await pools.close(raw)
})

it('a start from the dispatch event of a job that already ran is requeued', async () => {
  pools = new Pools()
  const name = pools.name()
  // A long ttl: no sweep requeues the job as an orphan while it waits for a worker.
  const node = await pools.join(name, { workerTtlMs: 5_000 })
  const starts: { key: string; requeued: boolean }[] = []
  const handler: WorkerHandler = {
    start: (job) => void starts.push({ key: job.key, requeued: job.requeued }),
    stop: () => undefined,
  }
  const first = await node.addWorker(handler)
  await node.dispatchJob('k', 'p')
  expect(starts).toEqual([{ key: 'k', requeued: false }])
  // The job stops and is released (its payload kept); its requeue waits in the pool stream for a worker.
  await node.removeWorker(first)
  const stream = streamKey(poolStreamName(name, 'compat'))
  for (const [id] of await raw.xrange(stream, '-', '+')) {
    await raw.xack(stream, kPoolSinkName, id)
    await raw.xdel(stream, id)
  }
  const original = encodeJob({
    key: 'k',
    nodeId: node.id,
    payload: Buffer.from('p'),
    createdAtNs: BigInt(Date.now()) * 1_000_000n,
    requeued: false,
    dispatchId: 'the-first-dispatch',
  })
  await raw.xadd(stream, '*', 'n', 'j', 'p', original)
  await node.addWorker(handler)
  await until(() => starts.length === 2, 10_000, 'the job to start again')
  expect(starts[1]).toEqual({ key: 'k', requeued: true })
})
