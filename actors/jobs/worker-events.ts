/**
 * The events of a `JobWorker` (`worker.events`) and how its parts fire them. A listener that throws
 * stops nothing in the worker: its error is rethrown on a fresh macrotask (an uncaught exception of the
 * caller's, as with any EventEmitter listener, but after the worker's own bookkeeping is done).
 *
 * The failure of an attempt fires 'failed', then 'retrying' or 'dead', once the database booked it:
 * an ack of this worker's result (dispatcher-link.ts) or a reap of a lapsed lease (worker.ts).
 */
import type { EventEmitter } from 'node:events'

import type { WireError } from '../../runtime/errors.js'
import { childOf } from '../../runtime/metrics.js'
import type { JobMetrics } from './metrics.js'

export interface JobEvent {
  id: string
  name: string
  attempt: number
}

export interface JobWorkerEventMap {
  started: [JobEvent]
  completed: [JobEvent]
  failed: [JobEvent & { error: WireError; willRetry: boolean }]
  retrying: [JobEvent & { error: WireError; retryAt: Date | undefined }]
  dead: [JobEvent & { error: WireError }]
  progress: [JobEvent & { progress: number }]
  warning: [{ message: string; error: Error }]
}

/** The event fields of a job (a fresh object: listeners may keep it). */
export function eventOf(job: JobEvent): JobEvent {
  return { id: job.id, name: job.name, attempt: job.attempt }
}

/** A worker's `events`, as its parts fire them. */
export class WorkerEvents {
  readonly #emitter: EventEmitter<JobWorkerEventMap>
  readonly #metrics: JobMetrics | undefined

  constructor(emitter: EventEmitter<JobWorkerEventMap>, metrics: JobMetrics | undefined) {
    this.#emitter = emitter
    this.#metrics = metrics
  }

  /** Some listener waits for `name` (to skip building an event nobody reads). */
  listening(name: keyof JobWorkerEventMap): boolean {
    return this.#emitter.listenerCount(name) > 0
  }

  /** Fires an event; a listener that throws is reported on a fresh macrotask and stops nothing here. */
  emit<K extends keyof JobWorkerEventMap>(name: K, ...payload: JobWorkerEventMap[K]): void {
    try {
      ;(this.#emitter as EventEmitter).emit(name, ...payload)
    } catch (error) {
      setImmediate(() => {
        throw error
      })
    }
  }

  warn(message: string, error: Error): void {
    this.emit('warning', { message, error })
  }

  /** A failed attempt the database booked: counted (with metrics), then 'failed' and 'retrying' or 'dead'. */
  failure(job: JobEvent, error: WireError, status: 'retrying' | 'dead', retryAt: Date | undefined): void {
    const metrics = this.#metrics
    if (metrics !== undefined) {
      childOf(metrics.failed, job.name).inc()
      if (status === 'dead') childOf(metrics.dead, job.name).inc()
    }
    const event = eventOf(job)
    this.emit('failed', { ...event, error, willRetry: status === 'retrying' })
    if (status === 'retrying') this.emit('retrying', { ...event, error, retryAt })
    else this.emit('dead', { ...event, error })
  }
}
