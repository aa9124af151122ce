/**
 * The package's migrations, in order. Append only: ids are 1..n without gaps, and a migration that has
 * run is never edited or removed (`migrate` refuses when its recorded checksum differs). A new one is a
 * new file `NNNNNN-<name>.ts` exporting `sql`, added at the end of the list below.
 */
import { sql as meta } from './000001-meta.js'
import { sql as jobs } from './000002-jobs.js'
import { sql as schedules } from './000003-schedules.js'
import { sql as leanIndexes } from './000004-jobs-lean-indexes.js'
import { sql as jobHistory } from './000005-job-history.js'
import { sql as leaseTokenIffRunning } from './000006-lease-token-iff-running.js'
import { sql as leaseTokenSequence } from './000007-lease-token-sequence.js'
import { sql as startOnAttemptEnd } from './000008-start-on-attempt-end.js'
import { sql as jobsFinishedIndex } from './000009-jobs-finished-index.js'
import { sql as jobEventsTimeIndex } from './000010-job-events-time-index.js'
import { sql as jobTraceContext } from './000011-job-trace-context.js'
import { sql as jobsNotifyPayload } from './000012-jobs-notify-payload.js'
import { sql as jobTraceParent } from './000013-job-trace-parent.js'

/** One schema change. `sql` runs in a transaction of its own with `search_path` set to the target schema. */
export interface Migration {
  /** 1 for the first, then consecutive. */
  readonly id: number
  /** A short name, recorded with the id. */
  readonly name: string
  /** The statements; names stay unqualified so that the schema is the caller's choice. */
  readonly sql: string
}

export const PULSE_MIGRATIONS: readonly Migration[] = Object.freeze([
  Object.freeze({ id: 1, name: 'meta', sql: meta }),
  Object.freeze({ id: 2, name: 'jobs', sql: jobs }),
  Object.freeze({ id: 3, name: 'schedules', sql: schedules }),
  Object.freeze({ id: 4, name: 'jobs-lean-indexes', sql: leanIndexes }),
  Object.freeze({ id: 5, name: 'job-history', sql: jobHistory }),
  Object.freeze({ id: 6, name: 'lease-token-iff-running', sql: leaseTokenIffRunning }),
  Object.freeze({ id: 7, name: 'lease-token-sequence', sql: leaseTokenSequence }),
  Object.freeze({ id: 8, name: 'start-on-attempt-end', sql: startOnAttemptEnd }),
  Object.freeze({ id: 9, name: 'jobs-finished-index', sql: jobsFinishedIndex }),
  Object.freeze({ id: 10, name: 'job-events-time-index', sql: jobEventsTimeIndex }),
  Object.freeze({ id: 11, name: 'job-trace-context', sql: jobTraceContext }),
  Object.freeze({ id: 12, name: 'jobs-notify-payload', sql: jobsNotifyPayload }),
  Object.freeze({ id: 13, name: 'job-trace-parent', sql: jobTraceParent }),
])
