/** Start positions resolved to concrete entry ids, and XREAD-family replies parsed. */
import type { Redis } from 'ioredis'

import { decodeEntry, idBeforeMs, type StreamEntry } from '../../transports/redis/streaming/entry.js'
import type { ReadColumns } from '../../transports/redis/streaming/read-reply.js'
import type { StartPosition } from './options.js'

/**
 * The id to read after. `'newest'` becomes the stream's last entry id at this moment ('0-0' for an
 * empty or missing stream), so that nothing added after the call can be missed (v1.6.5 keeps `$`
 * until the first event, which loses what is added between two blocking reads).
 */
export async function resolveStart(client: Redis, key: string, start: StartPosition): Promise<string> {
  if (start === 'oldest') return '0-0'
  if (start === 'newest') {
    const last = await client.xrevrange(key, '+', '-', 'COUNT', 1)
    return last[0]?.[0] ?? '0-0'
  }
  return 'after' in start ? start.after : idBeforeMs(start.at.getTime())
}

/** For a consumer group: `$` is atomic with XGROUP CREATE, so 'newest' stays `$` there. */
export function groupStart(start: StartPosition): string {
  if (start === 'oldest') return '0'
  if (start === 'newest') return '$'
  return 'after' in start ? start.after : idBeforeMs(start.at.getTime())
}

/** One stream's part of an XREAD / XREADGROUP reply (read as buffers). */
export interface StreamBatch {
  readonly key: string
  /** Pulse entries, in id order. */
  readonly entries: StreamEntry[]
  /** Ids of entries that are not Pulse's (no `n` or `p`). */
  readonly malformed: string[]
  /** The last id of the batch, malformed ones included (the cursor moves past them too). */
  readonly lastId: string | undefined
}

/** Parses `[[key, [[id, [f, v, …]], …]], …]` (or null on a timeout). */
export function parseReadReply(reply: unknown): StreamBatch[] {
  if (!Array.isArray(reply)) return []
  const batches: StreamBatch[] = []
  for (const part of reply as unknown[]) {
    if (!Array.isArray(part) || part.length < 2) continue
    const [key, rows] = part as [unknown, unknown]
    batches.push(parseEntries(String(key), rows))
  }
  return batches
}

/** Parses `[[id, [f, v, …]], …]`; an entry deleted since (XAUTOCLAIM/XCLAIM give it a nil body) is skipped. */
export function parseEntries(key: string, rows: unknown): StreamBatch {
  const entries: StreamEntry[] = []
  const malformed: string[] = []
  let lastId: string | undefined
  if (Array.isArray(rows)) {
    for (const row of rows as unknown[]) {
      if (!Array.isArray(row) || row.length < 2) continue
      const id = String(row[0])
      lastId = id
      if (row[1] === null) continue
      const entry = decodeEntry(id, row[1])
      if (entry === undefined) malformed.push(id)
      else entries.push(entry)
    }
  }
  return { key, entries, malformed, lastId }
}

/** A batch parsed by ioredis as the columns of a read reply (the payloads copied into one buffer). */
export function columnsOf(batch: StreamBatch): ReadColumns {
  const { entries } = batch
  const starts: number[] = []
  const ends: number[] = []
  let offset = 0
  for (const entry of entries) {
    starts.push(offset)
    offset += entry.payload.length
    ends.push(offset)
  }
  const hasTopic = entries.some((entry) => entry.topic !== undefined)
  const hasTrace = entries.some((entry) => entry.trace !== undefined)
  return {
    key: batch.key,
    ids: entries.map((entry) => entry.id),
    names: entries.map((entry) => entry.name),
    topics: hasTopic ? entries.map((entry) => entry.topic) : null,
    traces: hasTrace ? entries.map((entry) => entry.trace) : null,
    src: Buffer.concat(entries.map((entry) => entry.payload)),
    starts,
    ends,
    malformed: batch.malformed,
    lastId: batch.lastId,
  }
}
