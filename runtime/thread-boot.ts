/**
 * Starts a worker thread on a module URL. Built code (`.js`) starts directly. A TypeScript source
 * (`.ts`, as under vitest or tsx while developing) starts through a one-line bootstrap that registers
 * tsx in the new thread first: a worker does not inherit its parent's module loader hooks.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads'

export function startWorker(moduleUrl: URL, options: WorkerOptions = {}): Worker {
  if (!moduleUrl.pathname.endsWith('.ts')) return new Worker(moduleUrl, options)
  const tsx = import.meta.resolve('tsx/esm/api')
  const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(moduleUrl.href)}) })`
  return new Worker(boot, { ...options, eval: true })
}
