/**
 * The inside of a handler-pool thread: the piscina task function that runs one user handler.
 *
 * piscina loads this module in each of its threads and calls the default export once per task. The
 * task names the user's module (a URL) and export; the module is imported once per thread and the
 * export looked up once, then cached. The handler is called as `fn(payload, { signal })`.
 *
 * The answer is always a value, never a throw: `{ ok: true, value }` or `{ ok: false, error }` where
 * `error` is the handler's error as a `toWire` record (piscina would post a thrown error through
 * structured clone, which keeps neither its class nor its `code` and `data`: piscinajs/piscina#1143).
 * So a rejection of the pool's promise always means the thread itself failed (it exited or crashed).
 *
 * Cancellable tasks (the caller gave a signal or a timeout) carry a `control` word in shared memory:
 *
 *   QUEUED --this thread starts it--> RUNNING --handler settles--> DONE
 *      |
 *      +--the caller gives up first--> CANCELLED   (the thread then skips it: the handler never runs)
 *
 * Both sides move it with compare-and-swap, so exactly one of "start" and "cancel before start" wins.
 * A caller that gives up on a RUNNING task broadcasts `{ id, reason }` on the pool's BroadcastChannel
 * (named in `workerData`); the thread running task `id` aborts that handler's signal with the reason.
 * A handler that ignores its signal is stopped by the pool terminating the thread (see handler-pool.ts).
 */
import { BroadcastChannel, workerData } from 'node:worker_threads'

import { ActorStartError, coerceError, fromWire, toWire, type WireError } from './errors.js'

/** States of a cancellable task's control word (an `Int32Array` of length 1 over shared memory). */
export const kTaskQueued = 0
export const kTaskRunning = 1
export const kTaskDone = 2
export const kTaskCancelled = 3

/** What the pool posts for one task. */
export interface HandlerTask {
  readonly id: number
  /** An absolute module URL (`file:`, `data:`, …). */
  readonly module: string
  readonly export: string
  readonly payload: unknown
  /** Present for cancellable tasks only. */
  readonly control?: Int32Array
}

/** What the thread answers. `runUs` is the handler's run time (0 when it did not run). */
export type HandlerOutcome =
  | { readonly ok: true; readonly value: unknown; readonly runUs: number }
  | { readonly ok: false; readonly error: WireError; readonly runUs: number }

/** The message that cancels a running task. */
export interface AbortMessage {
  readonly id: number
  readonly reason: WireError
}

/** What the pool passes as piscina's `workerData`. */
export interface HandlerWorkerData {
  readonly abortChannel: string
}

/** The second argument of every handler. */
export interface HandlerContext {
  readonly signal: AbortSignal
}

type Handler = (payload: unknown, context: HandlerContext) => unknown

const modules = new Map<string, Promise<Record<string, unknown>>>()
const handlers = new Map<string, Handler>()
/** The controllers of this thread's running cancellable tasks, by task id. */
const running = new Map<number, AbortController>()
let abortChannel: BroadcastChannel | undefined

function loadModule(url: string): Promise<Record<string, unknown>> {
  let loading = modules.get(url)
  if (loading === undefined) {
    loading = import(url) as Promise<Record<string, unknown>>
    modules.set(url, loading)
    // A failed load is not cached: the next task tries again (the file may have been fixed).
    loading.catch(() => modules.delete(url))
  }
  return loading
}

async function resolveHandler(url: string, name: string, key: string): Promise<Handler> {
  let namespace: Record<string, unknown>
  try {
    namespace = await loadModule(url)
  } catch (error) {
    throw new ActorStartError(`cannot load handler module ${url}: ${coerceError(error).message}`, {
      cause: error,
      data: { module: url, export: name },
    })
  }
  const fn = namespace[name]
  if (typeof fn !== 'function') {
    throw new ActorStartError(`handler module ${url} has no function export "${name}"`, {
      data: { module: url, export: name, exports: Object.keys(namespace) },
    })
  }
  handlers.set(key, fn as Handler)
  return fn as Handler
}

/** Opens this thread's end of the abort channel, once, unref'd so that it never keeps the thread alive. */
function listenForAborts(): void {
  if (abortChannel !== undefined) return
  const name = (workerData as Partial<HandlerWorkerData> | null)?.abortChannel
  if (typeof name !== 'string') return
  abortChannel = new BroadcastChannel(name)
  ;(abortChannel as BroadcastChannel & { unref(): void }).unref()
  abortChannel.onmessage = (event: MessageEvent) => {
    const { id, reason } = event.data as AbortMessage
    running.get(id)?.abort(fromWire(reason))
  }
}

function elapsedUs(start: number): number {
  return Math.max(1, Math.round((performance.now() - start) * 1000))
}

export default async function runHandlerTask(task: HandlerTask): Promise<HandlerOutcome> {
  const { control } = task
  if (control !== undefined && Atomics.compareExchange(control, 0, kTaskQueued, kTaskRunning) !== kTaskQueued) {
    // Cancelled before it started; the caller has its answer already.
    return { ok: false, error: { name: 'AbortError', message: 'cancelled before it started' }, runUs: 0 }
  }
  const controller = new AbortController()
  if (control !== undefined) {
    listenForAborts()
    running.set(task.id, controller)
  }
  const start = performance.now()
  try {
    const key = `${task.export}\0${task.module}`
    const fn = handlers.get(key) ?? (await resolveHandler(task.module, task.export, key))
    const value: unknown = await fn(task.payload, { signal: controller.signal })
    return { ok: true, value, runUs: elapsedUs(start) }
  } catch (error) {
    return { ok: false, error: toWire(error), runUs: elapsedUs(start) }
  } finally {
    if (control !== undefined) {
      running.delete(task.id)
      Atomics.store(control, 0, kTaskDone)
    }
  }
}
