/**
 * The `pool` workload on Pulse: two `PoolNode`s of a pool of their own with 4 workers each; `--concurrency`
 * dispatchers call `dispatchJob` with a fresh key each, alternating nodes. A dispatch is done when a
 * worker's `start` runs it; the round ends with a shutdown of the pool and its keys removed. What it
 * opens goes on a `DisposeStack`: `close()` releases all of it, even when a step fails, and once; a node
 * that fails to join does not leave the other one in the pool.
 */
import { PoolNode, type WorkerHandler } from '../../../actors/pool/index.js'
import { DisposeStack } from '../../../runtime/lifecycle.js'
import { deleteByPrefix } from '../redis-keys.js'
import { stampJson, stampOf } from '../stamp.js'
import type { LoadTarget, TargetContext } from '../types.js'

const kWorkersPerNode = 4
const kOptions = { workerTtlMs: 5_000, ackGracePeriodMs: 5_000, jobSinkBlockMs: 1_000, maxQueuedJobs: 10_000 }

export async function pulsePool(context: TargetContext): Promise<LoadTarget> {
  const name = `loadgen-pool-${context.tag}`
  const stack = new DisposeStack()
  stack.defer(() => deleteByPrefix(context.redisUrl, [`map:${name}`, `pulse:stream:${name}`]))
  const nodes: PoolNode[] = []
  try {
    for (let i = 0; i < 2; i++) nodes.push(stack.use(await PoolNode.join(context.redisUrl, name, kOptions)))
  } catch (error) {
    await stack.disposeAsync().catch(() => undefined)
    throw error
  }
  // First at the close: node 0 shuts the whole pool down; the nodes' own closes then join that shutdown.
  stack.defer(() => nodes[0]?.shutdown())
  let next = 0
  return {
    batch: 1,
    async start(delivered) {
      const handler: WorkerHandler = {
        start(job) {
          const t = stampOf(job.payload)
          if (t !== undefined) delivered(t)
        },
        stop() {},
      }
      for (const node of nodes) for (let i = 0; i < kWorkersPerNode; i++) await node.addWorker(handler)
    },
    async send(t) {
      const i = next++
      await nodes[i % nodes.length]?.dispatchJob(`k${i}`, stampJson(t))
    },
    close: () => stack.disposeAsync(),
  }
}
