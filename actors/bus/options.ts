/** Options of the bus, `get` and `put`, with their defaults and validation. */
import { InvalidArgumentError } from '../../runtime/errors.js'
import { checkLogger, SILENT_LOGGER } from '../../runtime/logger.js'
import type { Logger } from '../../runtime/logger.js'
import { checkRegistry, type MetricsRegistry } from '../../runtime/metrics.js'
import {
  checkDurationMs,
  checkInteger,
  checkKnownKeys,
  checkOneOf,
  checkSignal,
  checkString,
  resolveOptions,
} from '../../runtime/options.js'
import { DEFAULT_BUS_KEY_PREFIX } from '../../transports/redis/bus/keys.js'
import { kInboxNamespace, patternError } from './subject.js'

export interface BusOptions {
  /** The namespaces (first subject token) this bus publishes to and reads; one Redis stream each. Required. */
  namespaces: readonly string[]
  /** Prefix of every Redis key and channel. @default 'pulse:bus:' */
  keyPrefix?: string
  /** How long a dedup `key` is remembered (per subject). @default 86400000 (24 h) */
  dedupTtlMs?: number
  /**
   * Retention: the most events each namespace's stream keeps; every put drops the oldest past it (with
   * their ids: a `start` at a dropped id fails as unknown, and a durable consumer whose cursor was
   * dropped resumes at the oldest kept). 0 keeps every event. @default 0
   */
  maxLen?: number
  /** Retention: events older than this (by their time in Redis) are dropped at the next put; 0 keeps every event. @default 0 */
  maxAgeMs?: number
  /** Deadline of a `put` with `confirm` when it has no `timeoutMs`. @default 30000 */
  confirmTimeoutMs?: number
  /** Deadline of a `request` when it has no `timeoutMs`. @default 5000 */
  requestTimeoutMs?: number
  /** How often live subscriptions are re-announced in Redis (for the no-responder check). @default 5000 */
  heartbeatMs?: number
  /** XREAD BLOCK of the tail loop. @default 5000 */
  blockMs?: number
  /** Entries read per XREAD / XRANGE. @default 256 */
  batchSize?: number
  /** Matching events a subscription holds before it stops taking them from the tail (it reads them later). @default 1024 */
  bufferSize?: number
  /** Bound of a graceful close. @default 5000 */
  closeTimeoutMs?: number
  /** @default silent */
  logger?: Logger
  /** Where the bus counts its events, and its `BusApi`s their SSE clients (metrics.ts). @default none */
  metrics?: MetricsRegistry
}

export type ResolvedBusOptions = Required<Omit<BusOptions, 'metrics'>> & {
  readonly metrics: MetricsRegistry | undefined
}

/** A hundred years: a retention past the timers' 24.8 days is common (a month of events). */
const kMaxRetentionMs = 100 * 365 * 24 * 3_600_000

export const DEFAULT_BUS_OPTIONS = {
  keyPrefix: DEFAULT_BUS_KEY_PREFIX,
  dedupTtlMs: 24 * 60 * 60 * 1000,
  maxLen: 0,
  maxAgeMs: 0,
  confirmTimeoutMs: 30_000,
  requestTimeoutMs: 5_000,
  heartbeatMs: 5_000,
  blockMs: 5_000,
  batchSize: 256,
  bufferSize: 1024,
  closeTimeoutMs: 5_000,
  logger: SILENT_LOGGER,
  metrics: undefined,
} as const satisfies Omit<ResolvedBusOptions, 'namespaces'>

export function resolveBusOptions(options: BusOptions): ResolvedBusOptions {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError('options must be an object with namespaces', { data: { option: 'options' } })
  checkKnownKeys(options, ['namespaces', ...Object.keys(DEFAULT_BUS_OPTIONS)])
  const namespaces = checkNamespaces(options.namespaces)
  if (options.keyPrefix !== undefined) checkString(options.keyPrefix, 'options.keyPrefix')
  if (options.dedupTtlMs !== undefined) checkDurationMs(options.dedupTtlMs, 'options.dedupTtlMs')
  if (options.maxLen !== undefined) checkInteger(options.maxLen, 'options.maxLen', { min: 0 })
  if (options.maxAgeMs !== undefined) checkDurationMs(options.maxAgeMs, 'options.maxAgeMs', { max: kMaxRetentionMs })
  if (options.confirmTimeoutMs !== undefined)
    checkDurationMs(options.confirmTimeoutMs, 'options.confirmTimeoutMs', { min: 1 })
  if (options.requestTimeoutMs !== undefined)
    checkDurationMs(options.requestTimeoutMs, 'options.requestTimeoutMs', { min: 1 })
  if (options.heartbeatMs !== undefined) checkDurationMs(options.heartbeatMs, 'options.heartbeatMs', { min: 10 })
  if (options.blockMs !== undefined) checkDurationMs(options.blockMs, 'options.blockMs', { min: 1 })
  if (options.batchSize !== undefined) checkInteger(options.batchSize, 'options.batchSize', { min: 1, max: 100_000 })
  if (options.bufferSize !== undefined) checkInteger(options.bufferSize, 'options.bufferSize', { min: 1 })
  if (options.closeTimeoutMs !== undefined) checkDurationMs(options.closeTimeoutMs, 'options.closeTimeoutMs')
  if (options.logger !== undefined) checkLogger(options.logger)
  if (options.metrics !== undefined) checkRegistry(options.metrics)
  return resolveOptions<ResolvedBusOptions>({ ...DEFAULT_BUS_OPTIONS, namespaces }, { ...options, namespaces })
}

/** Namespaces: a non-empty list of distinct tokens (letters, digits, `_`), never `_bus_` (reference: "namespace _bus_ is reserved"). */
export function checkNamespaces(value: unknown, name = 'options.namespaces'): readonly string[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new InvalidArgumentError(`${name} must name at least one namespace (no namespaces provided)`, {
      data: { option: name },
    })
  const out: string[] = []
  for (const [i, ns] of (value as unknown[]).entries()) {
    checkString(ns, `${name}[${i}]`, { nonEmpty: true })
    const text = (ns as string).trim()
    if (text === kInboxNamespace)
      throw new InvalidArgumentError(`namespace ${kInboxNamespace} is reserved`, { data: { option: `${name}[${i}]` } })
    if (text.includes('.') || patternError(text) !== undefined || text.includes('*') || text.includes('>')) {
      throw new InvalidArgumentError(
        `${name}[${i}] must be one token of letters, digits and _ (got ${JSON.stringify(text)})`,
        { data: { option: `${name}[${i}]` } },
      )
    }
    if (!out.includes(text)) out.push(text)
  }
  return Object.freeze(out)
}

export type AckMode = 'none' | 'manual'

export interface RedeliveryOptions {
  /** Wait for an ack before delivering the event again. @default 5000 */
  delayMs?: number
  /** Total deliveries of an event (the first included); 0 is unlimited. @default 3 */
  count?: number
}

export interface GetOptions {
  /** `'newest'` (events published from now on), `'oldest'`, or an event id to start after. @default 'newest' */
  start?: 'newest' | 'oldest' | (string & {})
  /** `'manual'`: one event in flight, the next only after `ack()` or the last redelivery. @default 'none' */
  ack?: AckMode
  /** Manual ack only. */
  redelivery?: RedeliveryOptions
  /** A durable consumer's name: it resumes after its last acked event, across restarts (cursor in Redis). */
  durable?: string
  /** Ends the subscription. */
  signal?: AbortSignal
}

export interface ResolvedGetOptions {
  readonly start: string
  readonly ack: AckMode
  readonly delayMs: number
  readonly count: number
  readonly durable: string | undefined
  readonly signal: AbortSignal | undefined
}

export const DEFAULT_GET_OPTIONS = {
  start: 'newest',
  ack: 'none',
  redelivery: { delayMs: 5_000, count: 3 },
} as const

export function resolveGetOptions(options: GetOptions = {}): ResolvedGetOptions {
  checkKnownKeys(options, ['start', 'ack', 'redelivery', 'durable', 'signal'])
  const start =
    options.start === undefined
      ? DEFAULT_GET_OPTIONS.start
      : checkString(options.start, 'options.start', { nonEmpty: true })
  if (start !== 'newest' && start !== 'oldest' && !start.startsWith('e_') && !/^\d+-\d+$/.test(start)) {
    throw new InvalidArgumentError(
      `options.start must be 'newest', 'oldest' or an event id (e_…) (got ${JSON.stringify(start)}): invalid start from`,
      { data: { option: 'options.start' } },
    )
  }
  const ack =
    options.ack === undefined ? DEFAULT_GET_OPTIONS.ack : checkOneOf(options.ack, 'options.ack', ['none', 'manual'])
  let delayMs: number = DEFAULT_GET_OPTIONS.redelivery.delayMs
  let count: number = DEFAULT_GET_OPTIONS.redelivery.count
  if (options.redelivery !== undefined) {
    checkKnownKeys(options.redelivery, ['delayMs', 'count'], 'options.redelivery')
    if (options.redelivery.delayMs !== undefined)
      delayMs = checkDurationMs(options.redelivery.delayMs, 'options.redelivery.delayMs', { min: 1 })
    if (options.redelivery.count !== undefined)
      count = checkInteger(options.redelivery.count, 'options.redelivery.count', { min: 0 })
  }
  const durable =
    options.durable === undefined
      ? undefined
      : checkString(options.durable, 'options.durable', { pattern: /^[A-Za-z0-9_.:-]{1,200}$/ })
  const signal = options.signal === undefined ? undefined : checkSignal(options.signal, 'options.signal')
  return { start, ack, delayMs, count, durable, signal }
}
