/**
 * Where a key lives on a Redis Cluster, for the code that talks to one node itself (a
 * `RespConnection`, a blocking read sent to one node so that `CLIENT UNBLOCK` can reach it):
 *
 * - `keySlot(key)`: the key's hash slot, as Redis computes it (CRC16-XMODEM of the hash tag when the key
 *   holds one, else of the whole key, mod 16384).
 * - `slotMaster(cluster, slot)`: the ioredis node of the master that serves the slot now, from the
 *   cluster's slot map, refreshed once when the slot has no known master.
 * - `isTopologyError(error)`: a failure after which the slot map may be stale (a connection lost,
 *   `MOVED`, `ASK`, `CLUSTERDOWN`, `TRYAGAIN`, `READONLY`, `MASTERDOWN`): refresh it and reconnect.
 */
import type { Cluster, Redis } from 'ioredis'

import { RedisConnectionError } from '../../runtime/errors.js'
import { classifyRedisError, mapRedisError } from './errors.js'

export const kClusterSlots = 16_384

const kCrcTable = (() => {
  const table = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    table[i] = crc
  }
  return table
})()

function crc16(bytes: Uint8Array): number {
  let crc = 0
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (kCrcTable[((crc >> 8) ^ byte) & 0xff] as number)
  return crc
}

/** The hash slot of `key` (0 … 16383). */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8')
  const open = bytes.indexOf(0x7b) // {
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1) // }
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % kClusterSlots
  }
  return crc16(bytes) % kClusterSlots
}

/** Asks a node for the cluster's slot map again. */
export function refreshSlots(cluster: Cluster): Promise<void> {
  return new Promise((resolve, reject) => {
    cluster.refreshSlotsCache((error) => (error == null ? resolve() : reject(mapRedisError(error))))
  })
}

/** `host:port` of an ioredis node, as the cluster's slot map names it. */
export function nodeKey(node: Redis): string {
  return `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`
}

/** The node serving `slot` now; rejects with a retryable `RedisConnectionError` when none is known. */
export async function slotMaster(cluster: Cluster, slot: number): Promise<Redis> {
  for (let attempt = 0; ; attempt++) {
    const key = cluster.slots[slot]?.[0]
    const node = key === undefined ? undefined : cluster.nodes('master').find((n) => nodeKey(n) === key)
    if (node !== undefined) return node
    if (attempt > 0) {
      throw new RedisConnectionError(`no master of the Redis Cluster serves slot ${slot} now`, {
        data: { slot },
      })
    }
    // A cluster still connecting has no node to ask yet: its first slot map comes with 'ready'.
    if (cluster.status === 'ready') await refreshSlots(cluster)
    else await cluster.ping()
  }
}

const kTopologyReplies: ReadonlySet<string> = new Set([
  'MOVED',
  'ASK',
  'CLUSTERDOWN',
  'TRYAGAIN',
  'READONLY',
  'MASTERDOWN',
])

/** Whether the slot map may be stale after `error` (see the module comment). */
export function isTopologyError(error: unknown): boolean {
  const { kind, reply } = classifyRedisError(error)
  return kind === 'connection' || (reply !== undefined && kTopologyReplies.has(reply))
}
