// A pool node with two workers: jobs are routed to a worker by their key (jump consistent hashing),
// dispatchJob resolves once the worker's start() did, a failing start comes back as WorkerStartError,
// and stop/notify reach the job's owner. Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/pool/worker/main.ts
import { PoolNode, WorkerStartError, type WorkerHandler } from 'pulse-runtime/pool'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const pool = `example-pool-worker-${process.pid}`

function handler(label: string): WorkerHandler {
  return {
    start(job) {
      if (job.key === 'user:bad') throw new Error('no such user')
      console.log(`[${label}] start ${job.key} (${job.payload.toString()})`)
    },
    stop(key) {
      console.log(`[${label}] stop ${key}`)
    },
    notify(key, payload) {
      console.log(`[${label}] notify ${key}: ${payload.toString()}`)
    },
  }
}

const node = await PoolNode.join(url, pool, { workerTtlMs: 1_000, ackGracePeriodMs: 500 })
await node.addWorker(handler('worker A'))
await node.addWorker(handler('worker B'))
for (const user of ['user:1', 'user:2', 'user:5', 'user:8']) await node.dispatchJob(user, `send the digest of ${user}`)
try {
  await node.dispatchJob('user:bad', 'x')
} catch (error) {
  if (!(error instanceof WorkerStartError)) throw error
  console.log(`dispatch failed: ${error.code}: ${(error.cause as Error).message}`)
}
console.log('running jobs:', node.jobKeys().sort().join(', '))
await node.notifyWorker('user:5', 'a new post')
await node.stopJob('user:3')
// stop and notify are fire-and-forget: give them a moment to reach their workers.
await new Promise((resolve) => setTimeout(resolve, 500))
console.log('pool workers:', (await node.poolWorkers()).length)
await node.shutdown() // stops every job, removes the pool's state
