/**
 * Options of streams, readers and sinks, their defaults (those of goa.design/pulse v1.6.5) and checks.
 * Invalid options throw `InvalidArgumentError` naming the option.
 */
import { InvalidArgumentError } from '../../runtime/errors.js'
import { checkLogger, type Logger, SILENT_LOGGER } from '../../runtime/logger.js'
import { checkRegistry, type MetricsRegistry } from '../../runtime/metrics.js'
import {
  checkBoolean,
  checkDurationMs,
  checkInteger,
  checkKnownKeys,
  checkSignal,
  checkString,
} from '../../runtime/options.js'
import type { Runtime } from '../../runtime/runtime.js'
import type { KeyLayout } from '../../transports/redis/key-layout.js'
import { isEntryId } from '../../transports/redis/streaming/entry.js'
import { compileTopicFilter, type TopicFilter } from './topic-filter.js'

/** Where a reader's cursor (or a sink's group, when it creates it) starts. */
export type StartPosition = 'newest' | 'oldest' | { readonly after: string } | { readonly at: Date }

export interface StreamOptions {
  /** Approximate length bound (`XADD MAXLEN ~`); `0` never trims. @default 1000 */
  maxLen?: number | undefined
  /** Absolute TTL of the stream key: set once (`PEXPIRE … NX`) by the first add or sink. `0`: none. @default 0 */
  ttlMs?: number | undefined
  /** Sliding TTL: every add sets it again. `0`: none. Exclusive with `ttlMs`. @default 0 */
  slidingTtlMs?: number | undefined
  /** @default silent */
  logger?: Logger | undefined
  /** Where the stream and its sinks count events (metrics.ts). @default none (nothing is counted) */
  metrics?: MetricsRegistry | undefined
  /** The runtime of its sinks' actors when a sink names none. @default none (each sink starts its own) */
  runtime?: Runtime | undefined
  /**
   * The stream's keys: `compat` (those of goa.design/pulse v1.6.5, one Redis server) or `cluster` (the
   * stream's and its sinks' names in hash tags, so a Redis Cluster takes them; docs/redis-layout.md,
   * "Redis Cluster"). `compat` on a cluster is refused when the stream is made.
   * @default 'cluster' on a Redis Cluster, else 'compat'
   */
  keyLayout?: KeyLayout | undefined
}

export interface ResolvedStreamOptions {
  readonly maxLen: number
  readonly ttlMs: number
  readonly slidingTtlMs: number
  readonly logger: Logger
  readonly metrics: MetricsRegistry | undefined
  readonly runtime: Runtime | undefined
  /** Undefined: the default for the connection (`resolveKeyLayout`); the stream's own is `Stream.keyLayout`. */
  readonly keyLayout: KeyLayout | undefined
}

export const DEFAULT_STREAM_OPTIONS: ResolvedStreamOptions = Object.freeze({
  maxLen: 1000,
  ttlMs: 0,
  slidingTtlMs: 0,
  logger: SILENT_LOGGER,
  metrics: undefined,
  runtime: undefined,
  keyLayout: undefined,
})

export interface AddOptions {
  topic?: string | undefined
  /** Adds nothing (and resolves `undefined`) when the stream does not exist. @default false */
  onlyIfExists?: boolean | undefined
}

export interface ReaderOptions {
  /** @default 'newest' (resolved to a concrete id when the reader is created) */
  start?: StartPosition | undefined
  /** Only events with exactly this topic (takes precedence over `topicPattern`). */
  topic?: string | undefined
  /** Only events whose topic the pattern finds (a search, not anchored); a string is compiled as a RegExp. */
  topicPattern?: RegExp | string | undefined
  /** How long one read blocks on the server; `0` blocks until an event comes. @default 5000 */
  blockMs?: number | undefined
  /** Entries per read (`COUNT`). @default 1000 */
  maxPolled?: number | undefined
  /** Events each subscription holds before the read loop waits for it. @default 1000 */
  bufferSize?: number | undefined
  /** Closes the reader when aborted. */
  signal?: AbortSignal | undefined
}

export interface SinkOptions extends ReaderOptions {
  /**
   * How long an event may stay read but unacked before it is redelivered (idle claim); also the
   * keep-alive period of the sink's consumer, which is removed once its keep-alive is 2× older.
   * Every instance of a sink must use the same value. @default 20_000
   */
  ackGracePeriodMs?: number | undefined
  /** Read without acks: nothing is left pending (`XREADGROUP … NOACK`). @default false */
  noAck?: boolean | undefined
  /** Period of the idle-claim check (one instance per period wins its lease). @default 500 */
  idleCheckMs?: number | undefined
  /** The runtime whose thread runs the sink-reader actor; by default the sink starts its own. */
  runtime?: Runtime | undefined
  /** The runtime thread of the actor. @default `sink:<stream>:<sink>:<consumer>` (a thread of its own) */
  thread?: string | undefined
}

export interface AddStreamOptions {
  /** @default the reader's (or sink's) own start */
  start?: StartPosition | undefined
}

export interface ResolvedReaderOptions {
  readonly start: StartPosition
  readonly filter: TopicFilter | undefined
  readonly blockMs: number
  readonly maxPolled: number
  readonly bufferSize: number
  readonly signal: AbortSignal | undefined
}

export interface ResolvedSinkOptions extends ResolvedReaderOptions {
  readonly ackGracePeriodMs: number
  readonly noAck: boolean
  readonly idleCheckMs: number
  readonly runtime: Runtime | undefined
  readonly thread: string | undefined
  /** The filter's source, for the actor (a RegExp does not cross threads). */
  readonly topic: string | undefined
  readonly topicPattern: { readonly source: string; readonly flags: string } | undefined
}

export const DEFAULT_READER_OPTIONS = Object.freeze({
  start: 'newest',
  blockMs: 5000,
  maxPolled: 1000,
  bufferSize: 1000,
} as const)
export const DEFAULT_SINK_OPTIONS = Object.freeze({
  ...DEFAULT_READER_OPTIONS,
  ackGracePeriodMs: 20_000,
  noAck: false,
  idleCheckMs: 500,
} as const)

const kReaderKeys = ['start', 'topic', 'topicPattern', 'blockMs', 'maxPolled', 'bufferSize', 'signal']
const kSinkKeys = [...kReaderKeys, 'ackGracePeriodMs', 'noAck', 'idleCheckMs', 'runtime', 'thread']

export function resolveStreamOptions(options: StreamOptions | undefined): ResolvedStreamOptions {
  if (options === undefined) return DEFAULT_STREAM_OPTIONS
  checkKnownKeys(options, ['maxLen', 'ttlMs', 'slidingTtlMs', 'logger', 'metrics', 'runtime', 'keyLayout'])
  const ttlMs = options.ttlMs === undefined ? 0 : checkDurationMs(options.ttlMs, 'options.ttlMs')
  const slidingTtlMs =
    options.slidingTtlMs === undefined ? 0 : checkDurationMs(options.slidingTtlMs, 'options.slidingTtlMs')
  if (ttlMs > 0 && slidingTtlMs > 0) {
    throw new InvalidArgumentError('options.ttlMs and options.slidingTtlMs are exclusive: set one of them', {
      data: { option: 'options.slidingTtlMs' },
    })
  }
  return {
    maxLen:
      options.maxLen === undefined
        ? DEFAULT_STREAM_OPTIONS.maxLen
        : checkInteger(options.maxLen, 'options.maxLen', { min: 0 }),
    ttlMs,
    slidingTtlMs,
    logger: options.logger === undefined ? SILENT_LOGGER : checkLogger(options.logger),
    metrics: options.metrics === undefined ? undefined : checkRegistry(options.metrics),
    runtime: options.runtime,
    keyLayout: options.keyLayout,
  }
}

export function resolveAddOptions(options: AddOptions | undefined): {
  topic: string | undefined
  onlyIfExists: boolean
} {
  if (options === undefined) return { topic: undefined, onlyIfExists: false }
  checkKnownKeys(options, ['topic', 'onlyIfExists'])
  return {
    topic: options.topic === undefined ? undefined : checkString(options.topic, 'options.topic'),
    onlyIfExists:
      options.onlyIfExists === undefined ? false : checkBoolean(options.onlyIfExists, 'options.onlyIfExists'),
  }
}

export function resolveReaderOptions(options: ReaderOptions | undefined): ResolvedReaderOptions {
  const o = options ?? {}
  checkKnownKeys(o, kReaderKeys)
  return resolveCommon(o)
}

export function resolveSinkOptions(options: SinkOptions | undefined): ResolvedSinkOptions {
  const o = options ?? {}
  checkKnownKeys(o, kSinkKeys)
  const d = DEFAULT_SINK_OPTIONS
  return {
    ...resolveCommon(o),
    ackGracePeriodMs:
      o.ackGracePeriodMs === undefined
        ? d.ackGracePeriodMs
        : checkDurationMs(o.ackGracePeriodMs, 'options.ackGracePeriodMs', { min: 1 }),
    noAck: o.noAck === undefined ? d.noAck : checkBoolean(o.noAck, 'options.noAck'),
    idleCheckMs:
      o.idleCheckMs === undefined ? d.idleCheckMs : checkDurationMs(o.idleCheckMs, 'options.idleCheckMs', { min: 10 }),
    runtime: o.runtime,
    thread: o.thread === undefined ? undefined : checkString(o.thread, 'options.thread', { nonEmpty: true }),
    topic: o.topic,
    topicPattern:
      o.topicPattern === undefined
        ? undefined
        : typeof o.topicPattern === 'string'
          ? { source: o.topicPattern, flags: '' }
          : { source: o.topicPattern.source, flags: o.topicPattern.flags },
  }
}

function resolveCommon(o: ReaderOptions): ResolvedReaderOptions {
  const d = DEFAULT_READER_OPTIONS
  return {
    start: o.start === undefined ? d.start : checkStart(o.start, 'options.start'),
    filter: compileTopicFilter(o.topic, o.topicPattern),
    blockMs: o.blockMs === undefined ? d.blockMs : checkDurationMs(o.blockMs, 'options.blockMs'),
    maxPolled: o.maxPolled === undefined ? d.maxPolled : checkInteger(o.maxPolled, 'options.maxPolled', { min: 1 }),
    bufferSize:
      o.bufferSize === undefined ? d.bufferSize : checkInteger(o.bufferSize, 'options.bufferSize', { min: 1 }),
    signal: o.signal === undefined ? undefined : checkSignal(o.signal, 'options.signal'),
  }
}

export function resolveAddStreamOptions(options: AddStreamOptions | undefined, fallback: StartPosition): StartPosition {
  if (options === undefined) return fallback
  checkKnownKeys(options, ['start'])
  return options.start === undefined ? fallback : checkStart(options.start, 'options.start')
}

export function checkStart(start: unknown, name: string): StartPosition {
  if (start === 'newest' || start === 'oldest') return start
  if (typeof start === 'object' && start !== null) {
    if ('after' in start && typeof start.after === 'string' && isEntryId(start.after)) return { after: start.after }
    if ('at' in start && start.at instanceof Date && Number.isFinite(start.at.getTime())) return { at: start.at }
  }
  throw new InvalidArgumentError(
    `${name} must be 'newest', 'oldest', { after: '<ms>-<seq>' } or { at: Date } (got ${describe(start)})`,
    {
      data: { option: name },
    },
  )
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
