/**
 * Messages between a `Sink` (the caller's thread) and its `sink-reader` actor (a runtime thread). They
 * travel over the runtime's shared-memory rings: `tell` one way, `ctx.emit` the other.
 *
 *   Sink ──credit n consumed─▶ actor   room for n more events; `consumed` taken out of the buffer since
 *   Sink ──ack seq runs──────▶ actor   acks, numbered; the actor XACKs what arrived while the last XACK ran
 *   Sink ──alive─────────────▶ actor   the caller's thread is responsive (sent when nothing else was)
 *   Sink ──addStream / removeStream / stats / close (asks)
 *   actor ──events stream ids …▶ Sink  a batch of one stream (≤ credits, ≤ kMaxBatchBytes and the mailbox's frame)
 *   actor ──acked seq─────────▶ Sink   every ack numbered ≤ seq is in Redis
 *   actor ──log level msg data▶ Sink   for the sink's logger (loggers do not cross threads)
 */
import type { SinkStartArgs, StreamTtl } from './sink-group.js'

/**
 * A batch of events of one stream, column by column: compact on the ring (the stream name once, no
 * array per event to encode and decode). Strings cost a native call each to encode, so the ids travel
 * as one string joined by `\n` (ids are digits and `-`), and event names as a table of the distinct
 * names plus an index per event (`nameOf`, null when there is one name). `topics` is null when no event
 * of the batch has one, `traces` (the adds' trace contexts) likewise, `deliveries` when every event is a
 * first delivery (count 1). The payloads are
 * one buffer (one copy across the ring, one decode), event `i`'s from `ends[i - 1]` (0 for the first) to
 * `ends[i]`.
 */
export interface WireBatch {
  readonly stream: string
  readonly ids: string
  readonly names: string[]
  readonly nameOf: number[] | null
  readonly topics: (string | null)[] | null
  readonly traces: (string | null)[] | null
  readonly data: Uint8Array
  readonly ends: number[]
  readonly deliveries: number[] | null
}

/** Acks of one stream in an `ack` message: the stream and its ids joined by `\n`. */
export type AckRun = [stream: string, ids: string]

export interface SinkReaderArgs extends SinkStartArgs {
  readonly redisUrl: string
  readonly blockMs: number
  readonly maxPolled: number
  readonly noAck: boolean
  readonly idleCheckMs: number
  readonly topic: string | undefined
  readonly topicPattern: { readonly source: string; readonly flags: string } | undefined
}

export type SinkReaderMsg =
  | { readonly t: 'credit'; readonly n: number; readonly consumed: number }
  | { readonly t: 'ack'; readonly seq: number; readonly runs: readonly AckRun[] }
  | { readonly t: 'alive' }
  | { readonly t: 'addStream'; readonly stream: string; readonly start: string; readonly ttl: StreamTtl }
  | { readonly t: 'removeStream'; readonly stream: string }
  | { readonly t: 'stats' }
  | { readonly t: 'close' }

export type SinkReaderOut =
  | ({ readonly t: 'events' } & WireBatch)
  | { readonly t: 'acked'; readonly seq: number }
  | {
      readonly t: 'log'
      readonly level: 'debug' | 'info' | 'warn' | 'error'
      readonly msg: string
      readonly data: Record<string, unknown>
    }

export interface SinkStats {
  /** Events handed to this instance's subscriptions (first deliveries and redeliveries). */
  readonly delivered: number
  /** Of those, redeliveries this instance claimed from idle entries. */
  readonly claimed: number
  readonly acked: number
  /** Events the topic filter left out (acked: they are not this sink's work). */
  readonly filtered: number
  /** Entries that are not Pulse's (acked and skipped). */
  readonly malformed: number
  /** Events too large for one message from the actor (the runtime's `mailboxBytes`): acked, logged, skipped. */
  readonly oversized: number
  /** Stale consumers of other instances this one removed. */
  readonly staleRemoved: number
  /** Times this instance kept its in-flight events while the caller's thread was busy. */
  readonly extended: number
}

/** Payload bytes per `events` message: well under the ring's largest frame (1 MiB by default). */
export const kMaxBatchBytes = 256 * 1024
