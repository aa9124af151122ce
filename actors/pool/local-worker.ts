/**
 * A worker of this node as the node keeps it: its jobs, the per-key queue of its operations, the
 * outcomes of its starts by dispatch id, and how far its stream was read.
 *
 * A worker's life:
 *
 *   created (its stream's `i` and its keep-alive written)
 *      └─▶ registered (`P:workers[wid]` written; active once the router's replicas see it)
 *             └─▶ stopped: retired (close, removeWorker, shutdown), or dropped (a cleaner removed it
 *                 from `P:workers`); a stopped worker takes no new event.
 */
import { ulid } from 'ulid'

import type { KeyLayout } from '../../transports/redis/key-layout.js'
import { streamKey, workerStreamName } from '../../transports/redis/pool/keys.js'
import { unixNanosToMs } from '../../transports/redis/pool/values.js'

import { nowNs } from './context.js'
import { routeKey } from './jump-hash.js'
import type { WorkerHandler } from './types.js'

export interface LocalJob {
  readonly key: string
  readonly payload: Buffer
  readonly createdAtNs: bigint
  readonly nodeId: string
  readonly dispatchId: string | undefined
}

export interface LocalWorker {
  readonly id: string
  readonly createdAt: Date
  readonly createdAtNs: bigint
  readonly handler: WorkerHandler
  readonly stream: string
  readonly jobs: Map<string, LocalJob>
  /** Per-key serialization of the worker's operations. */
  readonly chains: Map<string, Promise<void>>
  /** Outcomes of starts by dispatch id: a redelivered `j` gets it instead of a second `start`. */
  readonly outcomes: Map<string, Error | undefined>
  lastId: string
  stopped: boolean
  /** Its `P:workers` entry was written (a missing entry from then on means a cleaner removed it). */
  registered: boolean
}

/** How many start outcomes a worker remembers (the oldest is forgotten first). */
const kMaxOutcomes = 10_000

/** A new worker of the pool `pool`, its stream named in the pool's key layout. */
export function newLocalWorker(handler: WorkerHandler, pool: string, layout: KeyLayout): LocalWorker {
  const id = ulid()
  const createdAtNs = nowNs()
  return {
    id,
    createdAt: new Date(unixNanosToMs(createdAtNs)),
    createdAtNs,
    handler,
    stream: streamKey(workerStreamName(pool, id, layout)),
    jobs: new Map(),
    chains: new Map(),
    outcomes: new Map(),
    lastId: '0',
    stopped: false,
    registered: false,
  }
}

/** Remembers the outcome of a dispatch's start, for its redeliveries. */
export function rememberOutcome(worker: LocalWorker, dispatchId: string, error: Error | undefined): void {
  worker.outcomes.set(dispatchId, error)
  if (worker.outcomes.size > kMaxOutcomes) {
    const first = worker.outcomes.keys().next()
    if (first.done !== true) worker.outcomes.delete(first.value)
  }
}

/** Whether the job `key` of the active worker `workerId` belongs to another one (`ids`: the active list). */
export function isMisplaced(ids: readonly string[], workerId: string, key: string): boolean {
  return ids.includes(workerId) && ids[routeKey(key, ids.length)] !== workerId
}

/** A handler's "not now": the event is not acknowledged, and comes back after the ack grace period. */
export function isRequeue(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'PULSE_ERR_POOL_REQUEUE'
}
