/**
 * A quick check of how busy the machine is: the round trip of a value bounced between two threads
 * that both spin (no sleeping, no event loop). On an idle 2-core box it is well under a microsecond;
 * when other processes take the cores, it grows to tens of microseconds and the run is noisy.
 */
import { Worker } from 'node:worker_threads'

import { summarize } from './stats.js'

const kWorker = `
const { workerData } = require('node:worker_threads')
const w = new Int32Array(workerData)
let last = 0
for (;;) {
  const v = Atomics.load(w, 0)
  if (v === -1) break
  if (v !== last) { last = v; Atomics.store(w, 16, v) }
}
`

/** Median spin round trip in ns over `batches` batches of `perBatch` round trips (each batch bounded in time). */
export async function spinRoundTripNs(batches = 5, perBatch = 2_000): Promise<number> {
  const buffer = new SharedArrayBuffer(128)
  const words = new Int32Array(buffer)
  const worker = new Worker(kWorker, { eval: true, workerData: buffer })
  await new Promise((resolve) => worker.once('online', resolve))
  const results: number[] = []
  let value = 0
  try {
    for (let b = 0; b < batches; b++) {
      const t0 = performance.now()
      let i = 0
      for (; i < perBatch && performance.now() - t0 < 50; i++) {
        Atomics.store(words, 0, ++value)
        while (Atomics.load(words, 16) !== value) {
          // spin
        }
      }
      results.push(((performance.now() - t0) * 1e6) / i)
      await new Promise((resolve) => setImmediate(resolve))
    }
  } finally {
    Atomics.store(words, 0, -1)
    await worker.terminate()
  }
  return summarize(results).median
}
