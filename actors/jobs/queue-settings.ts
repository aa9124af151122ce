/**
 * The settings a `JobQueue` (options.ts) and a `JobWorker` (worker-options.ts) share: the schema, the
 * lease TTL, the claim poll, the retry backoff and the claim batch. Their defaults and their checks
 * live here only, so a queue and a worker built from the same options always agree on them.
 */
import { checkDurationMs, checkInteger, checkString, type OptionsOf } from '../../runtime/options.js'
import { type Backoff, checkBackoff, DEFAULT_BACKOFF_UNIT_MS } from './backoff.js'

export interface QueueSettings {
  /** The schema holding the queue's tables. */
  readonly schema: string
  /** How long a claimed job's lease lasts without renewal. */
  readonly leaseTtlMs: number
  /** The claim poll: a fallback for missed notifications and for delayed jobs that become due. */
  readonly pollIntervalMs: number
  /** Retry delay after attempt n failed: a unit in ms for `n² × unit`, or `(attempt) => ms`. */
  readonly backoff: Backoff
  /** Most jobs one claim statement takes (1–10,000). */
  readonly claimBatchMax: number
}

export const DEFAULT_QUEUE_SETTINGS = Object.freeze({
  schema: 'pulse',
  leaseTtlMs: 30_000,
  pollIntervalMs: 1_000,
  backoff: DEFAULT_BACKOFF_UNIT_MS,
  claimBatchMax: 500,
}) satisfies QueueSettings

/** The option names of the settings, in the order they are checked. */
export const QUEUE_SETTING_KEYS = ['schema', 'leaseTtlMs', 'pollIntervalMs', 'backoff', 'claimBatchMax'] as const

/** migrate.ts's rule for a schema: a lower-case identifier that PostgreSQL does not reserve. */
export const SCHEMA_PATTERN = /^(?!pg_)[a-z_][a-z0-9_]{0,62}$/

/**
 * Checks the settings given in `options` (`PULSE_ERR_INVALID_ARG` naming the first wrong one, as
 * `options.<key>`) and fills in the defaults of the others. Other keys of `options` are ignored.
 */
export function resolveQueueSettings(options: OptionsOf<QueueSettings>): QueueSettings {
  const d = DEFAULT_QUEUE_SETTINGS
  return {
    schema:
      options.schema === undefined
        ? d.schema
        : checkString(options.schema, 'options.schema', { pattern: SCHEMA_PATTERN }),
    leaseTtlMs:
      options.leaseTtlMs === undefined
        ? d.leaseTtlMs
        : checkDurationMs(options.leaseTtlMs, 'options.leaseTtlMs', { min: 30 }),
    pollIntervalMs:
      options.pollIntervalMs === undefined
        ? d.pollIntervalMs
        : checkDurationMs(options.pollIntervalMs, 'options.pollIntervalMs', { min: 1 }),
    backoff: options.backoff === undefined ? d.backoff : checkBackoff(options.backoff, 'options.backoff'),
    claimBatchMax:
      options.claimBatchMax === undefined
        ? d.claimBatchMax
        : checkInteger(options.claimBatchMax, 'options.claimBatchMax', { min: 1, max: 10_000 }),
  }
}
