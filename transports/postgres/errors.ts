/**
 * PostgreSQL failures, classified by tables rather than `if` chains, so a new case is a new row (as
 * graphile-worker's `RETRYABLE_ERROR_CODES`).
 *
 * `mapPgError(err)` turns whatever `pg` threw into one of:
 * - `PostgresConnectionError` (`PULSE_ERR_PG_CONNECTION`, always retryable): the connection could not be
 *   made or was lost: a socket error (`ECONNREFUSED`, `ECONNRESET`, …), one of `pg`'s own connection
 *   messages ('Connection terminated unexpectedly', …), or a SQLSTATE the table marks `connection`
 *   (class 08, 57P01 admin_shutdown, 53300 too_many_connections, …).
 * - `PostgresQueryError` (`PULSE_ERR_PG_QUERY`): the server answered with an error. `data.sqlstate`,
 *   `data.retryable` (from the table; unlisted codes are fatal) and, when the server names them,
 *   `data.constraint`, `data.table`, `data.schema`, `data.column`; `data.condition` is the condition's
 *   name when the table lists it.
 * - anything else unchanged (coerced to an `Error`); a `PulseError` passes through as is.
 *
 * The original error is always the `cause`, so the server's `detail` and `hint` stay reachable without
 * copying values (which may be personal data) into `data`.
 */
import {
  coerceError,
  type ErrorData,
  isPulseError,
  PostgresConnectionError,
  PostgresQueryError,
} from '../../runtime/errors.js'
import { SOCKET_ERROR_CODES } from '../../runtime/socket-errors.js'

export interface SqlstateRule {
  /** The condition name from the PostgreSQL manual (appendix A). */
  readonly condition: string
  /** Whether running the same work again can succeed. */
  readonly retryable: boolean
  /** Whether it means the session is gone or could not be made: mapped to `PostgresConnectionError`. */
  readonly connection: boolean
}

const retry = (condition: string): SqlstateRule => ({ condition, retryable: true, connection: false })
const lost = (condition: string): SqlstateRule => ({ condition, retryable: true, connection: true })
const fatal = (condition: string): SqlstateRule => ({ condition, retryable: false, connection: false })

/**
 * Exact SQLSTATEs. Listed fatal codes are here for their names and as documentation; any code absent
 * from this table and from `SQLSTATE_CLASS_RULES` is fatal too.
 */
export const SQLSTATE_RULES: Readonly<Record<string, SqlstateRule>> = Object.freeze({
  // Class 08: connection exception.
  '08000': lost('connection_exception'),
  '08001': lost('sqlclient_unable_to_establish_sqlconnection'),
  '08003': lost('connection_does_not_exist'),
  '08004': lost('sqlserver_rejected_establishment_of_sqlconnection'),
  '08006': lost('connection_failure'),
  '08007': lost('transaction_resolution_unknown'),
  '08P01': lost('protocol_violation'),
  // Class 40: transaction rollback. Only these two mean "the same transaction may succeed if re-run".
  '40001': retry('serialization_failure'),
  '40P01': retry('deadlock_detected'),
  '40002': fatal('transaction_integrity_constraint_violation'),
  '40003': fatal('statement_completion_unknown'),
  // Class 53: insufficient resources.
  '53000': retry('insufficient_resources'),
  '53100': retry('disk_full'),
  '53200': retry('out_of_memory'),
  '53300': lost('too_many_connections'),
  '53400': retry('configuration_limit_exceeded'),
  // Class 55: object not in prerequisite state.
  '55P03': retry('lock_not_available'),
  '55006': fatal('object_in_use'),
  // Class 57: operator intervention.
  '57P01': lost('admin_shutdown'),
  '57P02': lost('crash_shutdown'),
  '57P03': lost('cannot_connect_now'),
  '57P05': lost('idle_session_timeout'),
  '57014': fatal('query_canceled'),
  '57P04': fatal('database_dropped'),
  // Class 23: integrity constraint violation.
  '23000': fatal('integrity_constraint_violation'),
  '23502': fatal('not_null_violation'),
  '23503': fatal('foreign_key_violation'),
  '23505': fatal('unique_violation'),
  '23514': fatal('check_violation'),
  '23P01': fatal('exclusion_violation'),
  // Class 22: data exception (a few common ones).
  '22001': fatal('string_data_right_truncation'),
  '22003': fatal('numeric_value_out_of_range'),
  '22P02': fatal('invalid_text_representation'),
  // Class 25: invalid transaction state.
  '25001': fatal('active_sql_transaction'),
  '25P02': fatal('in_failed_sql_transaction'),
  '25P03': fatal('idle_in_transaction_session_timeout'),
  // Class 28: invalid authorization specification.
  '28000': fatal('invalid_authorization_specification'),
  '28P01': fatal('invalid_password'),
  // Class 3D / 3F: invalid catalog / schema name.
  '3D000': fatal('invalid_catalog_name'),
  '3F000': fatal('invalid_schema_name'),
  // Class 42: syntax error or access rule violation.
  '42501': fatal('insufficient_privilege'),
  '42601': fatal('syntax_error'),
  '42703': fatal('undefined_column'),
  '42883': fatal('undefined_function'),
  '42P01': fatal('undefined_table'),
  '42P07': fatal('duplicate_table'),
  // Class P0: PL/pgSQL.
  P0001: fatal('raise_exception'),
  // Class XX: internal error.
  XX000: fatal('internal_error'),
})

/** Whole classes (the SQLSTATE's first two characters), consulted when the exact code is not listed. */
export const SQLSTATE_CLASS_RULES: Readonly<Record<string, SqlstateRule>> = Object.freeze({
  '08': lost('connection_exception'),
  '53': retry('insufficient_resources'),
})

/** Error codes meaning the server is unreachable or the connection broke (node's, and pg's interrupt). */
export const CONNECTION_ERROR_CODES: ReadonlySet<string> = new Set([...SOCKET_ERROR_CODES, 'InterruptError'])

/** Messages of errors `pg` and `pg-pool` raise themselves, without a code, when a connection fails. */
export const CONNECTION_ERROR_MESSAGES: ReadonlySet<string> = new Set([
  'Connection terminated',
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'Query read timeout',
])

/** A SQLSTATE: five characters whose class is a digit pair or one of the lettered classes. */
const kSqlstate = /^(?:[0-9][0-9A-Z]|F0|HV|P0|XX)[0-9A-Z]{3}$/

/** The rule for `sqlstate`: the exact code, else its class, else fatal. */
export function classifySqlstate(sqlstate: string): SqlstateRule | undefined {
  return SQLSTATE_RULES[sqlstate] ?? SQLSTATE_CLASS_RULES[sqlstate.slice(0, 2)]
}

/** Whether re-running the failed work can help: connection-level failures and retryable SQLSTATEs. */
export function isRetryablePgError(err: unknown): boolean {
  const mapped = mapPgError(err)
  if (mapped instanceof PostgresConnectionError) return true
  return mapped instanceof PostgresQueryError && mapped.data?.retryable === true
}

interface ErrorFields {
  code?: unknown
  message?: unknown
  constraint?: unknown
  table?: unknown
  schema?: unknown
  column?: unknown
  cause?: unknown
  errors?: unknown
}

function fields(err: unknown): ErrorFields {
  return typeof err === 'object' && err !== null ? err : {}
}

/** The system error code of `err`, looking into a connect's `AggregateError` and `pg-pool`'s timeout cause. */
function systemCode(err: unknown, depth = 0): string | undefined {
  const { code, cause, errors } = fields(err)
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return code
  if (depth >= 3) return undefined
  if (Array.isArray(errors)) {
    for (const inner of errors) {
      const found = systemCode(inner, depth + 1)
      if (found !== undefined) return found
    }
  }
  return cause === undefined ? undefined : systemCode(cause, depth + 1)
}

function optionalStrings(
  source: ErrorFields,
  keys: readonly ('constraint' | 'table' | 'schema' | 'column')[],
): Record<string, string> {
  const out: Record<string, string> = {}
  for (const key of keys) {
    const value = source[key]
    if (typeof value === 'string' && value !== '') out[key] = value
  }
  return out
}

/** See the module comment. Never throws. */
export function mapPgError(err: unknown): Error {
  if (isPulseError(err)) return err
  const error = coerceError(err)
  const source = fields(err)
  const message = typeof source.message === 'string' ? source.message : error.message

  if (typeof source.code === 'string' && kSqlstate.test(source.code)) {
    const sqlstate = source.code
    const rule = classifySqlstate(sqlstate)
    const data: ErrorData = {
      sqlstate,
      retryable: rule?.retryable ?? false,
      ...(rule === undefined ? {} : { condition: rule.condition }),
      ...optionalStrings(source, ['constraint', 'table', 'schema', 'column']),
    }
    if (rule?.connection === true) {
      return new PostgresConnectionError(`PostgreSQL connection lost: ${message} (SQLSTATE ${sqlstate})`, {
        cause: error,
        data,
      })
    }
    return new PostgresQueryError(`${message} (SQLSTATE ${sqlstate})`, { cause: error, data })
  }

  const code = systemCode(err)
  if (code !== undefined) {
    const text = message === '' ? code : message
    return new PostgresConnectionError(`PostgreSQL connection failed: ${text}`, {
      cause: error,
      data: { retryable: true, systemCode: code },
    })
  }
  if (CONNECTION_ERROR_MESSAGES.has(message)) {
    return new PostgresConnectionError(`PostgreSQL connection failed: ${message}`, {
      cause: error,
      data: { retryable: true },
    })
  }
  return error
}
