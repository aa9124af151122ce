/**
 * A `pg.Pool` with the house rules: typed errors, transactions with retry, and a bounded, idempotent
 * close (the contract of `runtime/lifecycle.ts`).
 *
 * - Built from a connection string, the pool is *owned*: `close()` ends it. Given a `pg.Pool`, it is
 *   not: `close()` only stops this wrapper's intake, waits for its own operations and removes the
 *   listener it added.
 * - The pool always has an `'error'` listener while the wrapper is open: when the server dies under
 *   idle clients, `pg-pool` emits `'error'` on the pool, which would otherwise crash the process. A
 *   checked-out client gets its own listener for as long as it is held, for the same reason.
 * - Connecting has a bound (`connectionTimeoutMs`), so a down or unreachable server fails fast with a
 *   `PostgresConnectionError` instead of hanging.
 * - Every error leaving the wrapper went through `mapPgError` (./errors.ts).
 *
 * Clients are returned to the pool after use, except when their connection failed, and, for
 * `withClient`, when the callback threw: the session's state (an open transaction, a `SET`, a
 * session-level lock) is then unknown, so the client is discarded and the pool connects afresh.
 */
import pg from 'pg'

import { backoffMs } from '../../runtime/backoff.js'
import { ClosedError, InvalidArgumentError, PostgresConnectionError, PostgresQueryError } from '../../runtime/errors.js'
import { Destroyable, onceAsync, sleep, withTimeout } from '../../runtime/lifecycle.js'
import {
  checkDurationMs,
  checkInteger,
  checkKnownKeys,
  checkOneOf,
  checkString,
  resolveOptions,
} from '../../runtime/options.js'
import { trackResource } from '../../runtime/resource-tracker.js'
import { mapPgError } from './errors.js'

export interface PgPoolOptions {
  /**
   * Most connections the pool opens.
   * @default 10
   */
  max?: number | undefined
  /**
   * Bound on opening a connection (and on waiting for a free one), in ms; then the call fails with
   * `PostgresConnectionError`.
   * @default 5000
   */
  connectionTimeoutMs?: number | undefined
  /**
   * The server-side `statement_timeout` of every session, in ms (a startup parameter, which PgBouncer
   * refuses: leave it 0 through PgBouncer); 0 leaves the server's setting.
   * @default 0
   */
  statementTimeoutMs?: number | undefined
  /**
   * `application_name` of the sessions, shown in `pg_stat_activity`.
   * @default 'pulse'
   */
  applicationName?: string | undefined
  /**
   * Bound of a graceful `close()`, in ms; then held clients are discarded and `close()` rejects with
   * `CloseTimeoutError`.
   * @default 5000
   */
  closeTimeoutMs?: number | undefined
}

/** `PgPoolOptions` after defaults. */
export type ResolvedPgPoolOptions = { readonly [K in keyof PgPoolOptions]-?: Exclude<PgPoolOptions[K], undefined> }

export const DEFAULT_PG_POOL_OPTIONS: ResolvedPgPoolOptions = Object.freeze({
  max: 10,
  connectionTimeoutMs: 5_000,
  statementTimeoutMs: 0,
  applicationName: 'pulse',
  closeTimeoutMs: 5_000,
})

/** Options that shape a pool this module builds; they cannot apply to a `pg.Pool` given as is. */
const kBuildOptions = ['max', 'connectionTimeoutMs', 'statementTimeoutMs', 'applicationName'] as const
const kKnownOptions = [...kBuildOptions, 'closeTimeoutMs'] as const

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable'

const kBeginStatements: Readonly<Record<IsolationLevel, string>> = Object.freeze({
  'read committed': 'BEGIN ISOLATION LEVEL READ COMMITTED',
  'repeatable read': 'BEGIN ISOLATION LEVEL REPEATABLE READ',
  serializable: 'BEGIN ISOLATION LEVEL SERIALIZABLE',
})

export interface TransactionOptions {
  /**
   * The transaction's isolation level.
   * @default 'read committed'
   */
  isolation?: IsolationLevel | undefined
  /**
   * How many times the whole function runs again after a retryable failure (serialization failure,
   * deadlock, lost connection…; see `SQLSTATE_RULES`), with a short jittered backoff.
   * @default 0
   */
  retries?: number | undefined
}

const kMaxRetries = 100
const kBackoffBaseMs = 10
const kBackoffMaxMs = 1_000
/** How long `destroy()` waits for an owned pool to end once its clients were discarded. */
const kDestroyEndMs = 2_000

type Release = (discard?: Error) => void

function noop(): void {}

/** A `pg.Pool` (of any copy of `pg`): recognised by what it can do. */
export function isPgPool(value: unknown): value is pg.Pool {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { connect?: unknown }).connect === 'function' &&
    typeof (value as { end?: unknown }).end === 'function' &&
    typeof (value as { on?: unknown }).on === 'function'
  )
}

/** `host:port/database` of a connection string, without credentials, to name the pool. */
export function describeTarget(connectionString: string): string {
  try {
    const url = new URL(connectionString)
    return `${url.hostname}${url.port === '' ? '' : `:${url.port}`}${url.pathname}`
  } catch {
    return 'connection string'
  }
}

function retryBackoffMs(attempt: number): number {
  return backoffMs(attempt + 1, { baseMs: kBackoffBaseMs, maxMs: kBackoffMaxMs, jitter: true })
}

/** The pool's name in messages; refuses a source that is not a connection string or a `pg.Pool`. */
function checkSource(source: unknown, options: PgPoolOptions): string {
  if (typeof source === 'string') {
    checkString(source, 'source', { nonEmpty: true })
    return `PgPool ${describeTarget(source)}`
  }
  if (!isPgPool(source)) {
    throw new InvalidArgumentError('source must be a connection string or a pg.Pool', { data: { option: 'source' } })
  }
  const misplaced = kBuildOptions.find((key) => options[key] !== undefined)
  if (misplaced !== undefined) {
    throw new InvalidArgumentError(
      `options.${misplaced} applies only to a pool built from a connection string, not to a given pg.Pool`,
      {
        data: { option: `options.${misplaced}` },
      },
    )
  }
  return 'PgPool (given pg.Pool)'
}

export class PgPool extends Destroyable {
  /** The underlying pool. Errors thrown by calls on it directly are `pg`'s own, not mapped. */
  readonly pool: pg.Pool
  /** Whether `close()` ends `pool` (it was built here from a connection string). */
  readonly owned: boolean
  readonly #untrack: () => void
  /** Idle clients whose server went away: `pg-pool` already dropped them; the next call reconnects. */
  readonly #onPoolError = (_error: Error): void => {}
  readonly #inflight = new Set<Promise<void>>()
  readonly #held = new Set<Release>()
  readonly #end: () => Promise<void>

  /** Same as `createPgPool(source, options)`. */
  constructor(source: string | pg.Pool, options: PgPoolOptions = {}) {
    checkKnownKeys(options, kKnownOptions)
    if (options.max !== undefined) checkInteger(options.max, 'options.max', { min: 1, max: 10_000 })
    if (options.connectionTimeoutMs !== undefined)
      checkDurationMs(options.connectionTimeoutMs, 'options.connectionTimeoutMs', { min: 1 })
    if (options.statementTimeoutMs !== undefined)
      checkDurationMs(options.statementTimeoutMs, 'options.statementTimeoutMs')
    if (options.applicationName !== undefined)
      checkString(options.applicationName, 'options.applicationName', { nonEmpty: true })
    if (options.closeTimeoutMs !== undefined) checkDurationMs(options.closeTimeoutMs, 'options.closeTimeoutMs')
    const resolved = resolveOptions(DEFAULT_PG_POOL_OPTIONS, options)
    const label = checkSource(source, options)
    super({ name: label, closeTimeoutMs: resolved.closeTimeoutMs })

    if (typeof source === 'string') {
      this.pool = new pg.Pool({
        connectionString: source,
        max: resolved.max,
        connectionTimeoutMillis: resolved.connectionTimeoutMs,
        application_name: resolved.applicationName,
        keepAlive: true,
        ...(resolved.statementTimeoutMs > 0 ? { statement_timeout: resolved.statementTimeoutMs } : {}),
      })
      this.owned = true
    } else {
      this.pool = source
      this.owned = false
    }

    this.pool.on('error', this.#onPoolError)
    this.#end = onceAsync(() => this.pool.end())
    this.#untrack = this.owned ? trackResource('postgres', label) : noop
  }

  /** Runs one statement and returns its rows. */
  async query<T = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<T[]> {
    this.assertOpen('query')
    return this.#track(() =>
      this.#checkout(async (client) => (await client.query(text, values as unknown[] | undefined)).rows as T[], 'keep'),
    )
  }

  /**
   * Runs `fn` with a client of its own, returned to the pool afterwards (discarded if `fn` threw). `fn`
   * must not call `client.release()`.
   */
  async withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.assertOpen('withClient')
    return this.#track(() => this.#checkout(fn, 'discard'))
  }

  /**
   * Runs `fn` inside `BEGIN … COMMIT`; rolls back and rethrows when `fn` throws. With `retries` > 0, the
   * whole function runs again (on a fresh client) after a retryable failure, so it must be safe to
   * repeat. A connection lost during `COMMIT` is never retried, since the outcome is unknown: it is
   * thrown as `PostgresConnectionError` with `data.outcomeUnknown: true`. Once `close()` has started,
   * a failed attempt is not retried: its error is thrown.
   */
  async withTransaction<T>(fn: (client: pg.PoolClient) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    checkKnownKeys(options, ['isolation', 'retries'])
    const isolation =
      options.isolation === undefined
        ? 'read committed'
        : checkOneOf(options.isolation, 'options.isolation', Object.keys(kBeginStatements) as IsolationLevel[])
    const retries =
      options.retries === undefined ? 0 : checkInteger(options.retries, 'options.retries', { min: 0, max: kMaxRetries })
    this.assertOpen('withTransaction')
    const begin = kBeginStatements[isolation]
    return this.#track(async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.#transactionOnce(fn, begin)
        } catch (error) {
          if (attempt >= retries || !isRetryable(error) || this.signal.aborted) throw error
          await sleep(retryBackoffMs(attempt), this.signal).catch(() => {
            throw error
          })
        }
      }
    })
  }

  #track<T>(operation: () => Promise<T>): Promise<T> {
    const promise = operation()
    const settled = promise.then(noop, noop)
    this.#inflight.add(settled)
    void settled.then(() => this.#inflight.delete(settled))
    return promise
  }

  async #transactionOnce<T>(fn: (client: pg.PoolClient) => Promise<T>, begin: string): Promise<T> {
    return this.#checkout(async (client, discard) => {
      await client.query(begin)
      let result: T
      try {
        result = await fn(client)
      } catch (error) {
        try {
          await client.query('ROLLBACK')
        } catch (rollbackError) {
          // The session may still be inside the transaction: never hand it to someone else.
          discard(mapPgError(rollbackError))
        }
        throw error
      }
      try {
        await client.query('COMMIT')
      } catch (error) {
        const mapped = mapPgError(error)
        if (!(mapped instanceof PostgresConnectionError)) throw mapped
        throw new PostgresConnectionError(
          `connection lost during COMMIT; the transaction may or may not have committed: ${mapped.message}`,
          {
            cause: mapped,
            data: { ...mapped.data, retryable: false, outcomeUnknown: true },
          },
        )
      }
      return result
    }, 'keep')
  }

  /**
   * Checks a client out, runs `fn`, and releases the client: discarded when its connection failed or
   * `discard` was called, and with `policy: 'discard'` also when `fn` threw. Errors leave mapped.
   */
  async #checkout<T>(
    fn: (client: pg.PoolClient, discard: (reason: Error) => void) => Promise<T>,
    policy: 'keep' | 'discard',
  ): Promise<T> {
    if (this.pool.ending)
      throw new ClosedError(`${this.lifecycle.name}: the pg.Pool was ended`, { data: { name: this.lifecycle.name } })
    let client: pg.PoolClient
    try {
      client = await this.pool.connect()
    } catch (error) {
      throw mapPgError(error)
    }
    let broken: Error | undefined
    const onError = (error: Error) => {
      broken ??= error
    }
    client.on('error', onError)
    let released = false
    const release: Release = (discardReason) => {
      if (released) return
      released = true
      this.#held.delete(release)
      client.removeListener('error', onError)
      client.release(discardReason ?? broken)
    }
    this.#held.add(release)
    try {
      const result = await fn(client, (reason) => (broken ??= reason))
      release()
      return result
    } catch (error) {
      const mapped = mapPgError(error)
      const discard = policy === 'discard' || mapped instanceof PostgresConnectionError
      release(discard ? mapped : undefined)
      throw mapped
    }
  }

  /**
   * Graceful: intake has stopped (later calls reject with `ClosedError`); waits for the calls in flight,
   * then ends an owned pool.
   */
  protected async onClose(): Promise<void> {
    try {
      while (this.#inflight.size > 0) await Promise.all(this.#inflight)
      if (this.owned) await this.#end()
    } finally {
      if (!this.owned) this.pool.removeListener('error', this.#onPoolError)
      this.#untrack()
    }
  }

  /** Forceful: discards the clients held by calls in flight (their queries fail) and ends an owned pool. */
  protected override async onDestroy(reason: Error | undefined): Promise<void> {
    const discardReason = reason ?? new ClosedError(`${this.lifecycle.name} was destroyed`)
    for (const release of [...this.#held]) release(discardReason)
    try {
      if (this.owned) await withTimeout(this.#end(), kDestroyEndMs, () => new Error('pool did not end')).catch(noop)
    } finally {
      if (!this.owned) this.pool.removeListener('error', this.#onPoolError)
      this.#untrack()
    }
  }
}

function isRetryable(error: unknown): boolean {
  if (error instanceof PostgresConnectionError) return error.data?.outcomeUnknown !== true
  return error instanceof PostgresQueryError && error.data?.retryable === true
}

/**
 * A `PgPool` over a new pool for `source` (a connection string; owned) or over a given `pg.Pool` (not
 * owned: only `closeTimeoutMs` applies).
 */
export function createPgPool(source: string | pg.Pool, options?: PgPoolOptions): PgPool {
  return new PgPool(source, options)
}
