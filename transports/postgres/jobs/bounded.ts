/**
 * Reads bounded in time, for operators' pages: the statements run in a transaction whose
 * `statement_timeout` is the bound (`set_config(…, true)`: this transaction only, the pooled session
 * keeps its own setting), so the server cancels a search that would scan too much, and the client
 * returns to the pool at once. The cancel (SQLSTATE 57014, query_canceled) surfaces as `TimeoutError`
 * (`PULSE_ERR_TIMEOUT`), which a caller can tell from a broken statement.
 */
import { isPulseError, TimeoutError } from '../../../runtime/errors.js'
import type { PgPool } from '../pool.js'
import type { Queryable } from './queryable.js'

const kQueryCanceled = '57014'

/** Runs `fn`'s statements with a `timeoutMs` bound on each; `what` names the read in the timeout's message. */
export async function withStatementTimeout<T>(
  pool: PgPool,
  timeoutMs: number,
  what: string,
  fn: (tx: Queryable) => Promise<T>,
): Promise<T> {
  try {
    return await pool.withTransaction(async (tx) => {
      await tx.query(`SELECT set_config('statement_timeout', $1, true)`, [`${timeoutMs}ms`])
      return fn(tx)
    })
  } catch (error) {
    if (isPulseError(error) && error.code === 'PULSE_ERR_PG_QUERY' && error.data?.sqlstate === kQueryCanceled) {
      throw new TimeoutError(`${what} did not finish within ${timeoutMs} ms`, {
        cause: error,
        data: { timeoutMs, what },
      })
    }
    throw error
  }
}
