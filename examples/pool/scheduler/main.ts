// A schedule: plan() decides which jobs should run, once at once and then on each tick of a pool-wide
// ticker (one tick per period across all nodes). Here the plan rotates through three job sets.
// Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/pool/scheduler/main.ts
import { PoolNode } from 'pulse-runtime/pool'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const pool = `example-pool-scheduler-${process.pid}`

const node = await PoolNode.join(url, pool, { workerTtlMs: 1_000, ackGracePeriodMs: 500 })
const running = new Set<string>()
await node.addWorker({
  start(job) {
    running.add(job.key)
    console.log(`start ${job.key}`)
  },
  stop(key) {
    running.delete(key)
    console.log(`stop ${key}`)
  },
})

const sets = [['feed:eu', 'feed:us'], ['feed:us', 'feed:ap'], ['feed:ap']]
let plans = 0
let done!: () => void
const finished = new Promise<void>((resolve) => (done = resolve))
const schedule = await node.schedule(
  {
    name: 'feeds',
    plan() {
      const keys = sets[Math.min(plans, sets.length - 1)] ?? []
      if (++plans === sets.length) setTimeout(done, 300)
      console.log(`plan ${plans}: ${keys.join(', ')}`)
      // Start the set; stop every job of this schedule that is not in it.
      return { start: keys.map((key) => ({ key, payload: `poll ${key}` })), stopAll: true }
    },
  },
  300,
)
await finished
console.log('running:', [...running].sort().join(', '))
await schedule.close()
await node.shutdown()
