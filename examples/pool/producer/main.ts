// Two processes share a pool: a worker node (this same file with --worker, in a child process) runs
// the jobs, and this process, a client-only node, dispatches, notifies and stops them.
// Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/pool/producer/main.ts
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

import { PoolNode } from 'pulse-runtime/pool'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const options = { workerTtlMs: 1_000, ackGracePeriodMs: 500 }

if (process.argv.includes('--worker')) {
  const pool = process.argv[process.argv.length - 1] ?? ''
  const node = await PoolNode.join(url, pool, options)
  await node.addWorker({
    start: (job) => console.log(`[worker] start ${job.key}: ${job.payload.toString()}`),
    stop: (key) => console.log(`[worker] stop ${key}`),
    notify: (key, payload) => console.log(`[worker] notify ${key}: ${payload.toString()}`),
  })
  console.log('ready')
  process.on('SIGTERM', () => void node.shutdown().then(() => process.exit(0)))
} else {
  const pool = `example-pool-producer-${process.pid}`
  const worker = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--worker', pool], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: worker.stdout })
  const seen: string[] = []
  const waitFor = (text: string) =>
    new Promise<void>((resolve) => {
      const check = (line: string) => {
        if (!line.includes(text)) return
        lines.off('line', check)
        resolve()
      }
      for (const line of seen) if (line.includes(text)) return resolve()
      lines.on('line', check)
    })
  lines.on('line', (line) => {
    seen.push(line)
    console.log(line)
  })
  const timeout = setTimeout(() => {
    console.error('[producer] timed out')
    worker.kill('SIGKILL')
    process.exit(1)
  }, 30_000)
  await waitFor('ready')
  const producer = await PoolNode.join(url, pool, { ...options, clientOnly: true })
  for (let i = 1; i <= 3; i++) {
    await producer.dispatchJob(`report:${i}`, `quarter ${i}`)
    console.log(`[producer] report:${i} started`)
  }
  await producer.notifyWorker('report:2', 'add the appendix')
  await producer.stopJob('report:1')
  await Promise.all([waitFor('notify report:2'), waitFor('stop report:1')])
  await producer.close()
  worker.kill('SIGTERM')
  const [code] = (await once(worker, 'exit')) as [number | null]
  clearTimeout(timeout)
  if (code !== 0) process.exit(1)
}
