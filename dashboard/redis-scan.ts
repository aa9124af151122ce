/**
 * Finding the features' objects in Redis for the list pages: SCAN (never KEYS, which blocks the
 * server) for a key pattern, bounded in keys found and in SCAN calls, so a page answers in bounded time
 * on any keyspace; `truncated` says when the bound cut the list short. On a Redis Cluster every master
 * is scanned (a SCAN sees one node's keys). Names are those of the keys, so an object in the cluster key
 * layout shows with its hash tag (`{orders}`), which is also what finds its keys again.
 */
import type { Cluster, Redis } from 'ioredis'

import { isClusterClient } from '../transports/redis/connection.js'

export interface ScanResult {
  /** Sorted, distinct. */
  readonly names: string[]
  readonly truncated: boolean
}

export interface ScanOptions {
  /** A Redis type (`stream`, `hash`) the keys must have. */
  readonly type?: string
  /** Most names returned. @default 500 */
  readonly limit?: number
  /** Most SCAN calls (each looks at ~1,000 keys). @default 200 */
  readonly maxCalls?: number
}

/** The names of the keys matching `pattern`, each through `nameOf` (a key it maps to `undefined` is skipped). */
export async function scanNames(
  client: Redis | Cluster,
  pattern: string,
  nameOf: (key: string) => string | undefined,
  options: ScanOptions = {},
): Promise<ScanResult> {
  const limit = options.limit ?? 500
  const state = { names: new Set<string>(), calls: 0, truncated: false }
  const nodes: Redis[] = isClusterClient(client) ? client.nodes('master') : [client]
  for (const node of nodes) await scanNode(node, pattern, nameOf, options, state)
  const sorted = [...state.names].sort()
  return { names: sorted.slice(0, limit), truncated: state.truncated || sorted.length > limit }
}

async function scanNode(
  node: Redis,
  pattern: string,
  nameOf: (key: string) => string | undefined,
  options: ScanOptions,
  state: { names: Set<string>; calls: number; truncated: boolean },
): Promise<void> {
  const limit = options.limit ?? 500
  const maxCalls = options.maxCalls ?? 200
  let cursor = '0'
  do {
    if (state.names.size >= limit || state.calls >= maxCalls) {
      state.truncated = true
      return
    }
    const [next, keys] =
      options.type === undefined
        ? await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
        : await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', options.type)
    cursor = next
    state.calls++
    for (const key of keys) {
      const name = nameOf(key)
      if (name !== undefined) state.names.add(name)
    }
  } while (cursor !== '0')
}

/** `inner` of a key `<head><inner><tail>`, or `undefined` when the key is not of that shape. */
export function between(key: string, head: string, tail: string): string | undefined {
  if (!key.startsWith(head) || !key.endsWith(tail) || key.length <= head.length + tail.length) return undefined
  return key.slice(head.length, key.length - tail.length)
}
