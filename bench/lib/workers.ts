/** Worker helpers for benchmarks: start a .ts worker (tsx registered in the thread) and wait for it. */
import { once } from 'node:events'
import type { Worker, WorkerOptions } from 'node:worker_threads'

import { startWorker } from '../../runtime/thread-boot.js'

export async function startBenchWorker(url: URL, options: WorkerOptions = {}): Promise<Worker> {
  const worker = startWorker(url, options)
  await once(worker, 'online')
  return worker
}

/** Resolves on the next 'message' from the worker that `accept` takes. */
export function nextMessage<T>(worker: Worker, accept: (msg: unknown) => msg is T): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: unknown) => {
      if (!accept(msg)) return
      worker.off('message', onMessage)
      worker.off('error', reject)
      resolve(msg)
    }
    worker.on('message', onMessage)
    worker.once('error', reject)
  })
}

/** One turn of the event loop (a producer's back-off when the mailbox is full). */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
