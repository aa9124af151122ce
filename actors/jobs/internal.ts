/**
 * What the parts of the job queue share inside the package (never exported from the entry points):
 * the queue's database handles and resolved options, and the hook through which the execution side
 * (`register`/`start`) joins the queue's close.
 */
import type { QueryResultRow } from 'pg'

import { InvalidArgumentError } from '../../runtime/errors.js'
import type { PgPool } from '../../transports/postgres/pool.js'
import { preparedStatement, type Queryable } from '../../transports/postgres/jobs/queryable.js'
import type { ResolvedJobQueueOptions } from './options.js'

/** `queue[kJobQueueInternals]` is the queue's `JobQueueInternals`. */
export const kJobQueueInternals = Symbol('pulse-runtime.jobs.internals')

export interface JobQueueInternals {
  readonly pool: PgPool
  /** The schema as a quoted identifier, for SQL. */
  readonly q: string
  /** `pool` as a `Queryable` for the SQL modules (one statement per call, autocommit). */
  readonly db: Queryable
  /**
   * `db` for the fixed texts of the hot path (the inserts): named prepared statements, parsed once per
   * connection — but `db` itself through a transaction pooler (`options.transactionPooler`).
   */
  readonly prepared: Queryable
  readonly options: ResolvedJobQueueOptions
  /** Aborts when `close()` (or a destroy) starts. */
  readonly signal: AbortSignal
  /** Throws `ClosedError` once `close()` started; `what` names the refused call. */
  assertOpen(what: string): void
  /**
   * Adds a cleanup that `close()` runs before it releases the database: stop claiming, drain. Hooks
   * run last added first, all of them even if some throw (the failures are rethrown by `close()`).
   * `destroy`, if given, runs instead when the queue is destroyed (or `close()` overran its bound):
   * release at once, without waiting.
   */
  addCloseHook(close: () => unknown, destroy?: (reason?: Error) => unknown): void
}

/** The `Queryable` of a `PgPool`: each statement on a client of its own, returned right after. */
export function poolQueryable(pool: PgPool): Queryable {
  return { query: (text, values) => pool.withClient((client) => client.query(text, values)) }
}

/** `poolQueryable` whose statements are named prepared statements (`preparedStatement`). */
export function preparedPoolQueryable(pool: PgPool): Queryable {
  return {
    query: <R extends QueryResultRow>(text: string, values?: unknown[]) =>
      pool.withClient((client) => client.query<R>(preparedStatement(text, values))),
  }
}

const kMaxBigint = 9_223_372_036_854_775_807n

/**
 * A job or schedule id as the SQL takes it (a bigint's decimal text), or `undefined` when `value` is a
 * string no row can have. A non-string throws `PULSE_ERR_INVALID_ARG`.
 */
export function checkId(value: unknown, name: string): string | undefined {
  if (typeof value !== 'string')
    throw new InvalidArgumentError(`${name} must be a string id (got ${typeof value})`, { data: { option: name } })
  if (!/^[1-9][0-9]{0,18}$/.test(value) || BigInt(value) > kMaxBigint) return undefined
  return value
}
