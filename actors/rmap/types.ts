/** The shapes of a replicated map's calls: what `join` accepts, what writes return, its counters. */
import type { RedisSourceOrConnection } from '../../transports/redis/connection.js'

/**
 * What `join` accepts: a Redis URL (`redis-cluster://…` for a cluster), an ioredis `Redis` or `Cluster`
 * client (left open by `close()`), or a `PulseRedis`.
 */
export type RedisSource = RedisSourceOrConnection

export interface SetAndWaitOptions {
  /** Stops the wait (the write itself may still happen); rejects with the signal's reason. */
  signal?: AbortSignal | undefined
}

export interface RemoveValuesResult {
  /** The list after the removal; `undefined` when the key is missing or the list emptied (and was deleted). */
  remaining: string[] | undefined
  /** Whether at least one item was removed. */
  removed: boolean
}

/** Counters of one replica, for tests and dashboards. */
export interface ReplicatedMapStats {
  /** The revision the local copy holds. */
  readonly revision: number
  readonly size: number
  /** Frames applied to the local copy. */
  readonly applied: number
  /** Frames ignored because the copy already held their revision. */
  readonly ignored: number
  /** Frames that could not be decoded (logged and ignored). */
  readonly malformed: number
  /** Loads of the hash: the join's, and one per reconnect, regression, overflow or gap. */
  readonly loads: number
  /** Revision regressions detected (a frame or a load behind the local revision). */
  readonly regressions: number
  /** Times the pub/sub connection came back after a drop. */
  readonly reconnects: number
  /** Revision gaps detected in the cluster layout: frames were lost, and the replica reloaded. */
  readonly gaps: number
}
