/**
 * `readPoolStatus`: who is in a pool and which jobs each worker owns, read from the pool's maps without
 * joining it — no node, no keep-alive, no write (for operators' tools). One MULTI reads the maps, so the
 * picture is one moment's; liveness is judged as nodes judge it (PROTOCOL.md, "Members and liveness"),
 * with the pool's `workerTtlMs`, which is not stored in Redis and so is an option here.
 *
 * Redis does not record which node runs which worker, so nodes and workers are listed apart. The key
 * layout is an option too (the default for the connection, as `PoolNode.join`'s); in the `cluster`
 * layout the maps share one slot, so the MULTI runs on a Redis Cluster. A failed read rejects, typed
 * (`RedisCommandError`: WRONGTYPE when a map's key holds another type).
 */
import type { Redis } from 'ioredis'

import { checkDurationMs, checkKnownKeys } from '../../runtime/options.js'
import { createRedis, isClusterSource, type RedisSource } from '../../transports/redis/connection.js'
import { type KeyLayout, resolveKeyLayout } from '../../transports/redis/key-layout.js'
import { pipelineReplies } from '../../transports/redis/pipeline-replies.js'
import {
  cleanupMapName,
  jobMapName,
  jobPayloadMapName,
  kShutdownField,
  mapKeys,
  nodeKeepAliveMapName,
  shutdownMapName,
  workerKeepAliveMapName,
  workerMapName,
} from '../../transports/redis/pool/keys.js'
import {
  isWithinHorizon,
  msToUnixNanos,
  parseJobKeyList,
  parseUnixNanos,
  parseWorkerEntry,
  unixNanosToMs,
} from '../../transports/redis/pool/values.js'
import { activeWorkers } from './membership.js'
import { checkPoolName, isMemberId } from './names.js'
import { DEFAULT_POOL_OPTIONS } from './options.js'

export interface PoolStatus {
  readonly name: string
  /** The id of the node that asked the pool to shut down, while it shuts down. */
  readonly shutdownBy: string | undefined
  /** Nodes with a keep-alive, by id. */
  readonly nodes: readonly PoolNodeStatus[]
  /** Workers registered or owning jobs: active ones in the pool's order (by creation), then the others by id. */
  readonly workers: readonly PoolWorkerStatus[]
  /**
   * Keys of jobs that exist (their payload is stored) but no worker owns: queued for a worker — after
   * a dispatch, a requeue, or when their nodes all left — or orphaned, which a sweep requeues. Sorted.
   */
  readonly unownedJobs: readonly string[]
}

export interface PoolNodeStatus {
  readonly id: string
  /** Its last keep-alive; `undefined` when unreadable. */
  readonly lastSeen: Date | undefined
  /** Its keep-alive is within `workerTtlMs`. */
  readonly alive: boolean
}

/**
 * - `active`: jobs are routed to it;
 * - `leaving`: it is being removed, its jobs requeued;
 * - `dead`: no fresh keep-alive (or a cleaner holds it): a sweep will requeue its jobs and remove it.
 */
export type PoolWorkerState = 'active' | 'leaving' | 'dead'

export interface PoolWorkerStatus {
  readonly id: string
  readonly state: PoolWorkerState
  /** `undefined` while leaving, or for a worker that only `P:jobs` still lists. */
  readonly createdAt: Date | undefined
  /** Its last keep-alive; `undefined` when there is none. */
  readonly lastSeen: Date | undefined
  /** The keys of the jobs it owns. */
  readonly jobs: readonly string[]
}

export interface PoolStatusOptions {
  /** The pool's `workerTtlMs`: a keep-alive older than this is stale. @default 30_000 */
  workerTtlMs?: number | undefined
  /** The pool's key layout (`PoolOptions.keyLayout`). @default 'cluster' on a Redis Cluster, else 'compat' */
  keyLayout?: KeyLayout | undefined
}

/** A pool's maps as one MULTI reads them (reserved `=` fields left out). */
interface PoolMaps {
  readonly shutdown: Record<string, string>
  readonly nodeKeepAlives: Record<string, string>
  readonly workers: Record<string, string>
  readonly workerKeepAlives: Record<string, string>
  readonly cleanup: Record<string, string>
  readonly jobs: Record<string, string>
  /** The keys of `P:job-payloads` (the payloads themselves are not read). */
  readonly payloadKeys: readonly string[]
}

/**
 * The status of the pool `name` on `redis` (a URL, connected and closed here, or an ioredis client or
 * Cluster, left open); `undefined` when the pool does not exist: no node, no worker, no job (owned or
 * stored) and no shutdown under way.
 */
export async function readPoolStatus(
  redis: RedisSource,
  name: string,
  options: PoolStatusOptions = {},
): Promise<PoolStatus | undefined> {
  checkPoolName(name, 'name')
  checkKnownKeys(options, ['workerTtlMs', 'keyLayout'])
  const ttlMs =
    options.workerTtlMs === undefined
      ? DEFAULT_POOL_OPTIONS.workerTtlMs
      : checkDurationMs(options.workerTtlMs, 'options.workerTtlMs', { min: 1 })
  const layout = resolveKeyLayout(options.keyLayout, isClusterSource(redis))
  const connection = createRedis(redis, { name: 'pulse-pool-status' })
  try {
    return statusOf(name, await readMaps(connection.client, name, layout), msToUnixNanos(Date.now()), ttlMs)
  } finally {
    await connection.close()
  }
}

/** One MULTI: in the `cluster` layout the pool's maps share one slot, so it runs on a cluster too. */
async function readMaps(client: Redis, pool: string, layout: KeyLayout): Promise<PoolMaps> {
  const names = [
    shutdownMapName,
    nodeKeepAliveMapName,
    workerMapName,
    workerKeepAliveMapName,
    cleanupMapName,
    jobMapName,
  ].map((mapName) => mapName(pool, layout))
  const multi = client.multi()
  for (const map of names) multi.hgetall(mapKeys(map, layout).content)
  multi.hkeys(mapKeys(jobPayloadMapName(pool, layout), layout).content)
  const replies = pipelineReplies(await multi.exec())
  const [shutdown = {}, nodeKeepAlives = {}, workers = {}, workerKeepAlives = {}, cleanup = {}, jobs = {}] = replies
    .slice(0, names.length)
    .map((reply) => withoutReserved(reply as Record<string, string>))
  const payloadKeys = ((replies[names.length] ?? []) as string[]).filter((key) => !key.startsWith('='))
  return { shutdown, nodeKeepAlives, workers, workerKeepAlives, cleanup, jobs, payloadKeys }
}

function withoutReserved(content: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(content).filter(([field]) => !field.startsWith('=')))
}

function dateOf(text: string | undefined): Date | undefined {
  const ns = text === undefined ? undefined : parseUnixNanos(text)
  return ns === undefined ? undefined : new Date(unixNanosToMs(ns))
}

function statusOf(name: string, maps: PoolMaps, nowNs: bigint, ttlMs: number): PoolStatus | undefined {
  const nodes = Object.entries(maps.nodeKeepAlives)
    .filter(([id]) => isMemberId(id))
    .map(([id, seen]) => ({ id, lastSeen: dateOf(seen), alive: isWithinHorizon(seen, nowNs, ttlMs) }))
    .sort((a, b) => compare(a.id, b.id))
  const active = activeWorkers(maps.workers, maps.workerKeepAlives, maps.cleanup, nowNs, ttlMs).map((w) => w.id)
  const others = [...new Set([...Object.keys(maps.workers), ...Object.keys(maps.jobs)])]
    .filter((id) => isMemberId(id) && !active.includes(id))
    .sort(compare)
  const workers = [...active, ...others].map((id) => workerStatus(id, maps, active.includes(id)))
  const owned = new Set(workers.flatMap((worker) => worker.jobs))
  const unownedJobs = maps.payloadKeys.filter((key) => !owned.has(key)).sort(compare)
  const shutdownBy = maps.shutdown[kShutdownField]
  if (nodes.length === 0 && workers.length === 0 && unownedJobs.length === 0 && shutdownBy === undefined) {
    return undefined
  }
  return { name, shutdownBy, nodes, workers, unownedJobs }
}

function workerStatus(id: string, maps: PoolMaps, active: boolean): PoolWorkerStatus {
  const value = maps.workers[id]
  const entry = value === undefined ? undefined : parseWorkerEntry(value)
  const jobs = maps.jobs[id]
  return {
    id,
    state: active ? 'active' : entry?.removing === true ? 'leaving' : 'dead',
    createdAt: entry === undefined || entry.removing ? undefined : new Date(unixNanosToMs(entry.createdAtNs)),
    lastSeen: dateOf(maps.workerKeepAlives[id]),
    jobs: jobs === undefined ? [] : parseJobKeyList(jobs),
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
