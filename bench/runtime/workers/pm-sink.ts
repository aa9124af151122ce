// Worker: a postMessage consumer. It counts messages (an array counts as its length), acknowledges
// every `ackEvery` messages with the running count, and answers 'flush' with { done: count }. With
// `spinUs` it busy-waits per message and counts handled messages in `counter` (the memory benchmark).
import { parentPort, workerData } from 'node:worker_threads'

import { spinFor } from './spin.js'

export interface PmSinkData {
  readonly ackEvery: number
  readonly spinUs?: number
  readonly counter?: SharedArrayBuffer
}

const { ackEvery, spinUs = 0, counter } = workerData as PmSinkData
const handled = counter === undefined ? undefined : new Int32Array(counter)
let count = 0
let lastAck = 0

parentPort?.on('message', (msg: unknown) => {
  if (msg === 'reset') {
    count = 0
    lastAck = 0
    return
  }
  if (msg === 'flush') {
    parentPort?.postMessage({ done: count })
    return
  }
  count += Array.isArray(msg) ? msg.length : 1
  if (spinUs > 0) spinFor(spinUs)
  if (handled !== undefined) Atomics.add(handled, 0, 1)
  if (count - lastAck >= ackEvery) {
    lastAck = count
    parentPort?.postMessage(count)
  }
})
