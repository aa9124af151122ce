/**
 * Starts a worker thread on a module URL. Built code (`.js`) starts directly. A TypeScript source
 * (`.ts`, as under vitest or tsx while developing) — or a thread that will load TypeScript modules
 * (`typescript: true`, e.g. an actor module written in TypeScript, run under tsx) — starts through a
 * one-line bootstrap that registers tsx in the new thread first: a worker does not inherit its
 * parent's module loader hooks.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads'

import { ActorStartError } from './errors.js'

/** Whether a module is TypeScript source (and so needs tsx in the thread that loads it). */
export function isTypeScriptModule(url: string | URL): boolean {
  return /\.[mc]?ts$/.test(typeof url === 'string' ? url : url.pathname)
}

export function startWorker(moduleUrl: URL, options: WorkerOptions = {}, { typescript = false } = {}): Worker {
  if (!isTypeScriptModule(moduleUrl) && !typescript) return new Worker(moduleUrl, options)
  const tsx = resolveTsx()
  const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(moduleUrl.href)}) })`
  return new Worker(boot, { ...options, eval: true })
}

/** What a thread pool (piscina) is given to load `moduleUrl` in each of its threads. */
export interface PoolWorkerModule {
  /** The module the pool's threads load. */
  readonly filename: string
  /** The threads' `execArgv`; absent: they inherit the process's. */
  readonly execArgv?: string[]
}

/**
 * The module URL a piscina pool loads for `moduleUrl`, and the `execArgv` that makes it loadable.
 *
 * Built code (`.js`) loads as it is. A TypeScript source needs tsx registered in each new thread, and
 * `startWorker`'s eval bootstrap is not an option: piscina starts its own `worker.js` and loads the
 * task module with `require(filename)`, then `import(pathToFileURL(filename))` — so a `data:` URL
 * turns into a file path and fails (verified with piscina 5.3.2). Instead:
 * - each thread preloads a `data:` module that registers tsx (`execArgv: ['--import', …]`, which
 *   Node 20 honours in workers; `--import tsx` itself does not help, because tsx 4 registers its
 *   hooks from `--import` in the main thread only on Node 20);
 * - the filename is the `.js` sibling of the `.ts` file. piscina's `require()` of it fails with
 *   MODULE_NOT_FOUND before reading anything, and its `import()` then reaches the `.ts` file through
 *   tsx's `.js` → `.ts` resolution. Given the `.ts` path itself, `require()` would first try to compile
 *   the TypeScript as JavaScript, and a failed `require()` of an ES module can poison the later
 *   `import()` (ERR_REQUIRE_CYCLE_MODULE on Node 20.20).
 * The `.js` sibling must not exist (built output goes to `dist/`, so in a source tree it does not).
 */
export function poolWorkerModule(moduleUrl: URL): PoolWorkerModule {
  if (!moduleUrl.pathname.endsWith('.ts')) return { filename: moduleUrl.href }
  const tsx = resolveTsx()
  const register = `import { register } from ${JSON.stringify(tsx)}; register()`
  const sibling = new URL(moduleUrl.href)
  sibling.pathname = sibling.pathname.replace(/\.ts$/, '.js')
  return {
    filename: sibling.href,
    execArgv: ['--import', `data:text/javascript,${encodeURIComponent(register)}`],
  }
}

function resolveTsx(): string {
  try {
    return import.meta.resolve('tsx/esm/api')
  } catch (error) {
    throw new ActorStartError('loading TypeScript modules in a thread needs tsx: npm install --save-dev tsx', {
      cause: error,
    })
  }
}
