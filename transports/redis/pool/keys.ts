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
 *
 * Key layouts (`../key-layout.ts`): the tables above are the `compat` layout, byte for byte. In the
 * `cluster` layout every name is built from `{P}` instead of `P` (`poolKeyPrefix`; a pool name that
 * holds a hash tag is used as it is), and a worker's stream is scoped by its pool, `{P}:worker:<id>`:
 * every key of one pool hashes to one slot, so the multi-key scripts (`scripts.ts`), the node reader's
 * XREAD over its node's and workers' streams, and the status MULTI run on a Redis Cluster, and different
 * pools spread over its masters. The group `events` is then per pool stream too; Node routers never write
 * the shared sink keep-alive map nor the lease (PROTOCOL.md, "Known shared state").
 */
import { type KeyLayout, slotName } from '../key-layout.js'
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

/** What every key of the pool `pool` is built from: its name in compat, `{name}` in cluster (one slot). */
export function poolKeyPrefix(pool: string, layout: KeyLayout): string {
  return slotName(pool, layout)
}

export function shutdownMapName(pool: string, layout: KeyLayout): string {
  return `${poolKeyPrefix(pool, layout)}:shutdown`
}

export function nodeKeepAliveMapName(pool: string, layout: KeyLayout): string {
  return `${poolKeyPrefix(pool, layout)}:node-keepalive`
}

export function workerMapName(pool: string, layout: KeyLayout): string {
  return `${poolKeyPrefix(pool, layout)}:workers`
}

export function workerKeepAliveMapName(pool: string, layout: KeyLayout): string {
  return `${poolKeyPrefix(pool, layout)}:worker-keepalive`
}

export function cleanupMapName(pool: string, layout: KeyLayout): string {
  return `${poolKeyPrefix(pool, layout)}:cleanup`
}

export function jobMapName(pool: string, layout: KeyLayout): string {
  return `${poolKeyPrefix(pool, layout)}:jobs`
}

export function pendingJobMapName(pool: string, layout: KeyLayout): string {
  return `${poolKeyPrefix(pool, layout)}:pending-jobs`
}

export function jobPayloadMapName(pool: string, layout: KeyLayout): string {
  return `${poolKeyPrefix(pool, layout)}:job-payloads`
}

export function tickerMapName(pool: string, layout: KeyLayout): string {
  return `${poolKeyPrefix(pool, layout)}:tickers`
}

/** The key of a ticker's entry in `P:tickers`: the ticker name scoped by the pool's. */
export function tickerKey(pool: string, ticker: string): string {
  return `${pool}:${ticker}`
}

/** The map of the jobs a schedule started; the producer name shares the pool's map namespace. */
export function schedulerMapName(pool: string, producer: string, layout: KeyLayout): string {
  return `${poolKeyPrefix(pool, layout)}:${producer}`
}

/** The maps a client-only node joins. */
export function clientMapNames(pool: string, layout: KeyLayout): readonly string[] {
  return [shutdownMapName(pool, layout), nodeKeepAliveMapName(pool, layout)]
}

/**
 * Every map of the pool itself, in the reference's order (`node.maps()`): what a full node joins, and
 * what `shutdown()` destroys (scheduler maps are the schedules' own).
 */
export function poolMapNames(pool: string, layout: KeyLayout): readonly string[] {
  return [
    nodeKeepAliveMapName(pool, layout),
    shutdownMapName(pool, layout),
    workerMapName(pool, layout),
    workerKeepAliveMapName(pool, layout),
    cleanupMapName(pool, layout),
    jobMapName(pool, layout),
    pendingJobMapName(pool, layout),
    jobPayloadMapName(pool, layout),
    tickerMapName(pool, layout),
  ]
}

export function poolStreamName(pool: string, layout: KeyLayout): string {
  return `${poolKeyPrefix(pool, layout)}:pool`
}

export function nodeStreamName(pool: string, nodeId: string, layout: KeyLayout): string {
  return `${poolKeyPrefix(pool, layout)}:node:${nodeId}`
}

/** A worker's stream: named after the worker only in compat, as in the reference; `{P}:worker:<id>` in cluster. */
export function workerStreamName(pool: string, workerId: string, layout: KeyLayout): string {
  return layout === 'compat' ? `worker:${workerId}` : `${poolKeyPrefix(pool, layout)}:worker:${workerId}`
}

/** The Redis key of a stream named `name`. */
export function streamKey(name: string): string {
  return `${kStreamKeyPrefix}${name}`
}

/** The Redis keys of a replicated map named `name` (rmap's layout; a cluster name already holds `{P}`). */
export function mapKeys(name: string, layout: KeyLayout): { readonly content: string; readonly updates: string } {
  return { content: contentKey(name, layout), updates: updatesChannel(name, layout) }
}

/** A routing node's key for an event it wrote to a worker's stream. */
export function pendingEventKey(workerId: string, eventId: string): string {
  return `${workerId}:${eventId}`
}
