/**
 * The Redis layout of a worker pool named `P`, shared with goa.design/pulse v1.6.5
 * (docs/redis-layout.md, "Pools"), so that Go and Node nodes can join one pool.
 *
 * Replicated maps (rmap layout: hash `map:<name>:content`, channel `map:<name>:updates`):
 *
 * | map name | function | key → value (codecs in `values.ts`) | joined by |
 * |---|---|---|---|
 * | `P:shutdown` | `shutdownMapName` | `"shutdown"` (`kShutdownField`) → id of the node that asked | every node |
 * | `P:node-keepalive` | `nodeKeepAliveMapName` | node id → unix nanos | every node |
 * | `P:workers` | `workerMapName` | worker id → created-at unix nanos, or `"-"` (`kWorkerRemoving`) while it leaves | full nodes |
 * | `P:worker-keepalive` | `workerKeepAliveMapName` | worker id → unix nanos | full nodes |
 * | `P:cleanup` | `cleanupMapName` | worker id → cleanup-lock unix nanos | full nodes |
 * | `P:jobs` | `jobMapName` | worker id → JSON array of the job keys it owns | full nodes |
 * | `P:pending-jobs` | `pendingJobMapName` | job key → pending-until unix nanos (the dispatch guard) | full nodes |
 * | `P:job-payloads` | `jobPayloadMapName` | job key → payload bytes: "the job exists" | full nodes |
 * | `P:tickers` | `tickerMapName` | `P:<ticker>` (`tickerKey`) → `"<unix µs>\|<Go duration>"` | full nodes |
 * | `P:<producer>` | `schedulerMapName` | job key started by the schedule → a time text (never read) | nodes that `schedule` |
 *
 * Streams (streaming layout: key `pulse:stream:<name>`, entries `n` = event name, `p` = payload):
 *
 * | stream name | function | carries | read by |
 * |---|---|---|---|
 * | `P:pool` | `poolStreamName` | `j` start, `s` stop, `n` notify | the consumer group `events` (`kPoolSinkName`) of the full nodes |
 * | `P:node:<nodeId>` | `nodeStreamName` | `i` init, `a` worker acks, `d` dispatch returns; MAXLEN ~1000 | that node, from the oldest entry |
 * | `worker:<workerId>` | `workerStreamName` | `i`, and `j`/`s`/`n` routed to that worker — **not** pool-scoped | that worker, from the oldest entry |
 *
 * The sink name `events` is the same for every pool, and so are the sink's keep-alive map
 * (`map:sink:events:keepalive:*`) and idle-check lease (`sink:events:stalelease`): shared by all the
 * pools of a Redis. Changing it would split a mixed Go/Node pool, so it stays.
 *
 * `pendingEventKey` is not in Redis: it keys a routing node's table of events handed to workers.
 */
import { contentKey, updatesChannel } from '../rmap/keys.js'

/** The field of `P:shutdown` whose presence means "the pool is shutting down". */
export const kShutdownField = 'shutdown'
/** The value of a `P:workers` entry while its worker is leaving (its jobs are being requeued). */
export const kWorkerRemoving = '-'
/** The consumer group of the pool stream: one per Redis, whatever the pool (see above). */
export const kPoolSinkName = 'events'
/** The approximate MAXLEN of a node stream. */
export const kNodeStreamMaxLen = 1_000
/** The prefix of a stream's Redis key (streaming's layout, docs/redis-layout.md, "Streams"). */
export const kStreamKeyPrefix = 'pulse:stream:'

export function shutdownMapName(pool: string): string {
  return `${pool}:shutdown`
}

export function nodeKeepAliveMapName(pool: string): string {
  return `${pool}:node-keepalive`
}

export function workerMapName(pool: string): string {
  return `${pool}:workers`
}

export function workerKeepAliveMapName(pool: string): string {
  return `${pool}:worker-keepalive`
}

export function cleanupMapName(pool: string): string {
  return `${pool}:cleanup`
}

export function jobMapName(pool: string): string {
  return `${pool}:jobs`
}

export function pendingJobMapName(pool: string): string {
  return `${pool}:pending-jobs`
}

export function jobPayloadMapName(pool: string): string {
  return `${pool}:job-payloads`
}

export function tickerMapName(pool: string): string {
  return `${pool}:tickers`
}

/** The key of a ticker's entry in `P:tickers`: the ticker name scoped by the pool's. */
export function tickerKey(pool: string, ticker: string): string {
  return `${pool}:${ticker}`
}

/** The map of the jobs a schedule started; the producer name shares the pool's map namespace. */
export function schedulerMapName(pool: string, producer: string): string {
  return `${pool}:${producer}`
}

/** The maps a client-only node joins. */
export function clientMapNames(pool: string): readonly string[] {
  return [shutdownMapName(pool), nodeKeepAliveMapName(pool)]
}

/**
 * Every map of the pool itself, in the reference's order (`node.maps()`): what a full node joins, and
 * what `shutdown()` destroys (scheduler maps are the schedules' own).
 */
export function poolMapNames(pool: string): readonly string[] {
  return [
    nodeKeepAliveMapName(pool),
    shutdownMapName(pool),
    workerMapName(pool),
    workerKeepAliveMapName(pool),
    cleanupMapName(pool),
    jobMapName(pool),
    pendingJobMapName(pool),
    jobPayloadMapName(pool),
    tickerMapName(pool),
  ]
}

export function poolStreamName(pool: string): string {
  return `${pool}:pool`
}

export function nodeStreamName(pool: string, nodeId: string): string {
  return `${pool}:node:${nodeId}`
}

/** A worker's stream: named after the worker only, as in the reference. */
export function workerStreamName(workerId: string): string {
  return `worker:${workerId}`
}

/** The Redis key of a stream named `name`. */
export function streamKey(name: string): string {
  return `${kStreamKeyPrefix}${name}`
}

/** The Redis keys of a replicated map named `name`. */
export function mapKeys(name: string): { readonly content: string; readonly updates: string } {
  return { content: contentKey(name), updates: updatesChannel(name) }
}

/** A routing node's key for an event it wrote to a worker's stream. */
export function pendingEventKey(workerId: string, eventId: string): string {
  return `${workerId}:${eventId}`
}
