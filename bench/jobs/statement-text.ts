/**
 * The library's own hot-path statements as text, for the probes that run an earlier or a trial form of
 * one beside it: the form is the library's text with one piece swapped, so it follows every other
 * change of the statement, and a swap whose piece is gone fails loudly instead of measuring a stale copy.
 */
import { completeJobs } from '../../transports/postgres/jobs/hot-path.js'
import type { Queryable } from '../../transports/postgres/jobs/queryable.js'

/** The text of the statement `run` sends (to a queryable that records it and returns no rows). */
export async function statementOf(run: (db: Queryable) => Promise<unknown>): Promise<string> {
  let text: string | undefined
  await run({
    query: (t) => {
      text = t
      return Promise.resolve({ rows: [], rowCount: 0 })
    },
  })
  if (text === undefined) throw new Error('statementOf: nothing was sent')
  return text
}

/** `text` with `from` replaced by `to`; throws when `from` is not in it (the library's statement changed). */
export function swap(text: string, from: string, to: string): string {
  if (!text.includes(from))
    throw new Error(`${JSON.stringify(from)} is no longer in the statement; update the probe's variant`)
  return text.replace(from, to)
}

/** The lease guard of the library's completion (hot-path.ts, `kLeaseHeld`). */
export const kCompletionGuard = 'WHERE j.id = ANY($1::bigint[]) AND j.lease_token = ANY($2::bigint[])'

/** The library's completion statement for schema `q`. */
export function completionText(q: string): Promise<string> {
  return statementOf((db) => completeJobs(db, q, [{ id: '1', leaseToken: '1' }]))
}
