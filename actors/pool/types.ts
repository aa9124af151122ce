/** The shapes of the pool's API. */

/** A job as its worker's `start` gets it. */
export interface Job {
  readonly key: string
  readonly payload: Buffer
  readonly createdAt: Date
  /** Started again after a rebalance, a cleanup or a node's close (not a fresh dispatch). */
  readonly requeued: boolean
}

/**
 * What a worker runs. A throw (or rejection) from `start` fails the dispatch with `WorkerStartError`.
 * A `RequeueError` from any of the three means "not now": the event is not acknowledged and comes back
 * after the ack grace period (a `start` is called again, a `stop` leaves the job running until then).
 */
export interface WorkerHandler {
  start(job: Job): void | Promise<void>
  stop(key: string): void | Promise<void>
  /** Optional: without it a notification is logged and dropped; the job keeps running. */
  notify?(key: string, payload: Buffer): void | Promise<void>
}

/** A worker, as `addWorker`, `workers()` and `poolWorkers()` describe it. */
export interface Worker {
  readonly id: string
  readonly createdAt: Date
}

/**
 * A schedule's producer: `plan()` is called once at once, then on each tick the pool gives it. A
 * `ScheduleStopError` from `plan()` ends the schedule on every node (its job map is reset, its ticker
 * stopped); the jobs it started keep running.
 */
export interface JobProducer {
  readonly name: string
  plan(): JobPlan | Promise<JobPlan>
}

export interface JobPlan {
  start?: readonly { readonly key: string; readonly payload: Uint8Array | string }[] | undefined
  stop?: readonly string[] | undefined
  /** Stop every job this schedule started, except those in `start`. */
  stopAll?: boolean | undefined
}
