/**
 * What Redis holds of one stream, read without changing anything (`Stream.info()`): its length, first
 * and last event ids, and its sinks — the consumer groups on it — with what each has pending and its
 * consumers (one per sink instance). XINFO STREAM and XINFO GROUPS run in one MULTI, then XINFO
 * CONSUMERS for every group in one pipeline. A missing key reads as `undefined` and a group deleted
 * between the two round trips is left out; any other error reply rejects, typed (`RedisCommandError`:
 * WRONGTYPE for a key of another type).
 */
import type { Redis } from 'ioredis'

import { classifyRedisError } from '../../transports/redis/errors.js'
import { pipelineReplies } from '../../transports/redis/pipeline-replies.js'

export interface StreamInfo {
  readonly name: string
  /** Events in the stream (XLEN). */
  readonly length: number
  /** `undefined` when the stream is empty. */
  readonly firstId: string | undefined
  readonly lastId: string | undefined
  /** The consumer groups, by name. */
  readonly sinks: readonly SinkInfo[]
}

export interface SinkInfo {
  readonly name: string
  /** Events delivered to the sink's consumers and not acked yet. */
  readonly pending: number
  /** The id of the last event delivered to the sink. */
  readonly lastDeliveredId: string
  /** Events not delivered to the sink yet; `undefined` when Redis cannot tell (after deletions). */
  readonly lag: number | undefined
  readonly consumers: readonly SinkConsumerInfo[]
}

export interface SinkConsumerInfo {
  /** The instance's consumer name (a ULID for Pulse's sinks). */
  readonly name: string
  readonly pending: number
  /** Since the consumer last read or claimed, ms. */
  readonly idleMs: number
}

/** `[field, value, field, value, …]` as a map (XINFO replies). */
function fieldsOf(reply: unknown): Map<string, unknown> {
  const fields = new Map<string, unknown>()
  if (!Array.isArray(reply)) return fields
  const flat = reply as unknown[]
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), flat[i + 1])
  return fields
}

/** The id of an XINFO `first-entry` / `last-entry` (`[id, [fields…]]`, or nil for an empty stream). */
function entryId(entry: unknown): string | undefined {
  return Array.isArray(entry) && entry.length > 0 ? String(entry[0]) : undefined
}

function count(value: unknown): number {
  const n = Number(value)
  return Number.isFinite(n) ? n : 0
}

function isNoSuchKey(error: unknown): boolean {
  return classifyRedisError(error).kind === 'reply' && /no such key/i.test((error as Error).message)
}

function parseConsumer(row: unknown): SinkConsumerInfo {
  const fields = fieldsOf(row)
  return { name: String(fields.get('name')), pending: count(fields.get('pending')), idleMs: count(fields.get('idle')) }
}

/** `undefined` when the key `key` does not exist; a key of another type rejects (WRONGTYPE). */
export async function readStreamInfo(client: Redis, name: string, key: string): Promise<StreamInfo | undefined> {
  try {
    return await read(client, name, key)
  } catch (error) {
    if (isNoSuchKey(error)) return undefined
    throw error
  }
}

async function read(client: Redis, name: string, key: string): Promise<StreamInfo> {
  const [stream, groups] = pipelineReplies(await client.multi().xinfo('STREAM', key).xinfo('GROUPS', key).exec())
  const info = fieldsOf(stream)
  const groupRows = (Array.isArray(groups) ? (groups as unknown[]) : []).map(fieldsOf)
  const pipeline = client.pipeline()
  for (const group of groupRows) pipeline.xinfo('CONSUMERS', key, String(group.get('name')))
  // A group whose last instance left (and destroyed it) since XINFO GROUPS answers NOGROUP: no longer a sink.
  const consumerReplies = groupRows.length === 0 ? [] : pipelineReplies(await pipeline.exec(), { missing: ['NOGROUP'] })
  const sinks = groupRows.flatMap((group, i) => sinkOf(group, consumerReplies[i]))
  return {
    name,
    length: count(info.get('length')),
    firstId: entryId(info.get('first-entry')),
    lastId: entryId(info.get('last-entry')),
    sinks: sinks.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  }
}

/** One group of XINFO GROUPS with its XINFO CONSUMERS reply; none (`rows` undefined) when the group went away. */
function sinkOf(group: Map<string, unknown>, rows: unknown): SinkInfo[] {
  if (rows === undefined) return []
  const lag = group.get('lag')
  return [
    {
      name: String(group.get('name')),
      pending: count(group.get('pending')),
      lastDeliveredId: String(group.get('last-delivered-id')),
      lag: lag === null || lag === undefined ? undefined : count(lag),
      consumers: (Array.isArray(rows) ? (rows as unknown[]) : []).map(parseConsumer),
    },
  ]
}
