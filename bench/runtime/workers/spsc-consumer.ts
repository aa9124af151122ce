// Worker: the consumer side of the bare fixed-record ring. Each message starts one run.
import { parentPort } from 'node:worker_threads'

import { consume, type FixedRing } from '../spsc-ring.js'

export interface SpscRun {
  readonly ring: FixedRing
  readonly count: number
}

parentPort?.on('message', (run: SpscRun) => {
  parentPort?.postMessage(consume(run.ring, run.count))
})
