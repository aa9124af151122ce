/**
 * The stream writes shared by the node's parts, its watchdog and its router: events on the pool stream
 * (`j`, `s`, `n`), the node stream's `i` entry, and entries sent to another node's stream (`a`, `d`).
 */
import type { PulseRedis } from '../../transports/redis/connection.js'
import type { KeyLayout } from '../../transports/redis/key-layout.js'
import { kPoolEvents } from '../../transports/redis/pool/codec.js'
import { kNodeStreamMaxLen, nodeStreamName, poolStreamName, streamKey } from '../../transports/redis/pool/keys.js'

/** XADDs an event to the pool stream (never trimmed: routers delete what they settle). */
export function addPoolEvent(
  redis: PulseRedis,
  pool: string,
  layout: KeyLayout,
  name: string,
  payload: Buffer,
): Promise<string | null> {
  return redis.client.xadd(streamKey(poolStreamName(pool, layout)), '*', 'n', name, 'p', payload)
}

/** Creates the node's stream, or wakes its readers: an `i` entry. */
export function addNodeInit(
  redis: PulseRedis,
  pool: string,
  layout: KeyLayout,
  nodeId: string,
): Promise<string | null> {
  return redis.client.xadd(
    streamKey(nodeStreamName(pool, nodeId, layout)),
    'MAXLEN',
    '~',
    kNodeStreamMaxLen,
    '*',
    'n',
    kPoolEvents.init,
    'p',
    nodeId,
  )
}

/** XADDs an entry to the stream of the node `nodeId`, if that stream still exists (NOMKSTREAM). */
export function addNodeEvent(
  redis: PulseRedis,
  pool: string,
  layout: KeyLayout,
  nodeId: string,
  name: string,
  payload: Buffer,
): Promise<string | null> {
  return redis.client.xadd(
    streamKey(nodeStreamName(pool, nodeId, layout)),
    'NOMKSTREAM',
    'MAXLEN',
    '~',
    kNodeStreamMaxLen,
    '*',
    'n',
    name,
    'p',
    payload,
  )
}
