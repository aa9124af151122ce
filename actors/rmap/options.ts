/**
 * `ReplicatedMap.join` options and argument checks: names, keys, values.
 */
import { InvalidArgumentError } from '../../runtime/errors.js'
import { checkLogger, type Logger, SILENT_LOGGER } from '../../runtime/logger.js'
import { checkRegistry, type MetricsRegistry } from '../../runtime/metrics.js'
import { checkDurationMs, checkKnownKeys, checkSignal, resolveOptions } from '../../runtime/options.js'
import type { KeyLayout } from '../../transports/redis/key-layout.js'

/** What it logs through: the kernel's `Logger` (pino's shape). */
export type ReplicatedMapLogger = Logger

export interface ReplicatedMapOptions {
  /**
   * Absolute TTL of the map's hash, in ms: the first write sets it (`PEXPIRE … NX`) and later writes
   * leave it alone, so the map vanishes that long after it was created. `0`: no TTL.
   * @default 0
   */
  ttlMs?: number | undefined
  /**
   * Sliding TTL of the map's hash, in ms: every write sets it again, so the map vanishes after that
   * long without writes (reads never refresh it). `0`: no TTL. Exclusive with `ttlMs`.
   * @default 0
   */
  slidingTtlMs?: number | undefined
  /**
   * Where the map logs (joins, reconnects, resyncs, malformed frames).
   * @default silent
   */
  logger?: ReplicatedMapLogger | undefined
  /** Aborts the join (not the map once joined). */
  signal?: AbortSignal | undefined
  /**
   * Where the map counts its writes, applied updates and keys (metrics.ts).
   * @default none (nothing is counted)
   */
  metrics?: MetricsRegistry | undefined
  /**
   * The map's keys: `compat` (those of goa.design/pulse v1.6.5, one Redis server) or `cluster` (the
   * name in a hash tag, so a Redis Cluster takes them; docs/redis-layout.md, "Redis Cluster").
   * @default 'cluster' on a Redis Cluster, else 'compat'
   */
  keyLayout?: KeyLayout | undefined
}

export interface ResolvedReplicatedMapOptions {
  readonly ttlMs: number
  readonly slidingTtlMs: number
  readonly logger: ReplicatedMapLogger
  readonly signal: AbortSignal | undefined
  readonly metrics: MetricsRegistry | undefined
  /** Undefined: the default for the connection (`resolveKeyLayout`). */
  readonly keyLayout: KeyLayout | undefined
}

export const DEFAULT_REPLICATED_MAP_OPTIONS = Object.freeze({
  ttlMs: 0,
  slidingTtlMs: 0,
  logger: SILENT_LOGGER,
  signal: undefined,
  metrics: undefined,
  keyLayout: undefined,
}) satisfies ResolvedReplicatedMapOptions

const kKnownOptions = ['ttlMs', 'slidingTtlMs', 'logger', 'signal', 'metrics', 'keyLayout']

export function resolveReplicatedMapOptions(options: ReplicatedMapOptions | undefined): ResolvedReplicatedMapOptions {
  if (options === undefined) return DEFAULT_REPLICATED_MAP_OPTIONS
  checkKnownKeys(options, kKnownOptions)
  if (options.ttlMs !== undefined) checkDurationMs(options.ttlMs, 'options.ttlMs')
  if (options.slidingTtlMs !== undefined) checkDurationMs(options.slidingTtlMs, 'options.slidingTtlMs')
  if ((options.ttlMs ?? 0) > 0 && (options.slidingTtlMs ?? 0) > 0) {
    throw new InvalidArgumentError('options.ttlMs and options.slidingTtlMs are exclusive: set one of them', {
      data: { option: 'options.slidingTtlMs' },
    })
  }
  if (options.logger !== undefined) checkLogger(options.logger)
  if (options.signal !== undefined) checkSignal(options.signal, 'options.signal')
  if (options.metrics !== undefined) checkRegistry(options.metrics)
  return resolveOptions<ResolvedReplicatedMapOptions>(DEFAULT_REPLICATED_MAP_OPTIONS, options)
}

/** goa.design/pulse's rule for map names: 1–512 characters, none of space, `*`, `?`, `[`, `]`, NUL. */
const kMapName = /^[^ \0*?[\]]{1,512}$/u

export function checkMapName(name: unknown): string {
  if (typeof name !== 'string' || !kMapName.test(name)) {
    const shown =
      typeof name === 'string' ? JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name) : typeof name
    throw new InvalidArgumentError(
      `name must be 1 to 512 characters without space, '*', '?', '[', ']' or NUL (got ${shown}${typeof name === 'string' ? `, ${[...name].length} characters` : ''})`,
      { data: { option: 'name' } },
    )
  }
  return name
}

/** A map key: a non-empty string without `=` (the reserved fields `=rev` and `=kind` start with it). */
export function checkMapKey(key: unknown, argument = 'key'): string {
  if (typeof key !== 'string' || key === '' || key.includes('=')) {
    const why =
      typeof key !== 'string'
        ? `must be a string (got ${typeof key})`
        : key === ''
          ? 'must not be empty'
          : `must not contain '=' (got ${JSON.stringify(key)})`
    throw new InvalidArgumentError(`${argument} ${why}`, { data: { option: argument } })
  }
  return key
}

/** A value or list item: any string, the empty one included. */
export function checkMapValue(value: unknown, argument: string): string {
  if (typeof value !== 'string') {
    throw new InvalidArgumentError(`${argument} must be a string (got ${value === null ? 'null' : typeof value})`, {
      data: { option: argument },
    })
  }
  return value
}
