/**
 * Inserting jobs: one row, or many in one statement. An idempotency key that exists already returns the
 * first job's id (the insert is skipped). A batch without any key takes a plain INSERT. The NOTIFY
 * trigger wakes idle dispatchers once per statement. No `job_events` row is written: a job's creation
 * is its row (`created_at`, `event_seq` 1), and `job_history` (migration 5) shows it as the 'enqueued'
 * entry of seq 1, so the transitions after it are the only event rows.
 *
 * A row with a trace context takes a statement with its column: `trace_parent` (migration 13, 25 bytes)
 * for a W3C `traceparent` alone, else `trace_context` (migration 11, JSON); a row has at most one of the
 * two. The rows of an untraced application keep their statements, the columns NULL. Rows that take the
 * defaults of their options keep the lean statement (`plainInsertSql`) when traced compactly: with the
 * one context of an `enqueueMany` as one parameter, or one per row (the group-committed `enqueue`s).
 */
import { idList, type Queryable, textArray, textPerSchema } from './queryable.js'

export interface NewJob {
  name: string
  /** JSON args (stored as jsonb) — or bytes (stored as bytea), never both. */
  args?: unknown
  argsBytes?: Uint8Array
  priority?: number
  runAt?: Date
  maxAttempts?: number
  idempotencyKey?: string
  scheduleId?: string
  occurrence?: Date
  /**
   * The trace context of the enqueue's span as its W3C `traceparent`'s 25 bytes (`\x` and 50 hex
   * digits, bytea input; stored as `trace_parent`): set only under a valid span context, so that
   * untraced inserts keep their statements (without the column).
   */
  traceParent?: string
  /** The same when the carrier is not a `traceparent` alone: its JSON text (stored as `trace_context`). */
  traceContext?: string
}

/** The insert of rows that may carry unique keys; `traced` adds `trace_context` ($10) and `trace_parent` ($11). */
function keyedInsert(q: string, traced: boolean): string {
  const trace = traced ? ', trace_context, trace_parent' : ''
  return `WITH input AS (
       SELECT t.*, nextval((SELECT pg_get_serial_sequence('${q}.jobs', 'id'))::regclass) AS new_id
         FROM unnest($1::text[], $2::jsonb[], $3::bytea[], $4::int[], $5::timestamptz[], $6::int[], $7::text[], $8::bigint[], $9::timestamptz[]${traced ? ', $10::jsonb[], $11::bytea[]' : ''})
              WITH ORDINALITY AS t(name, args, args_bytes, priority, run_at, max_attempts, idempotency_key, schedule_id, occurrence${trace}, ord)
     ), inserted AS (
       INSERT INTO ${q}.jobs (id, name, args, args_bytes, priority, run_at, max_attempts, idempotency_key, schedule_id, occurrence${trace})
       OVERRIDING SYSTEM VALUE
       SELECT new_id, name, args, args_bytes, coalesce(priority, 0), coalesce(run_at, now()), coalesce(max_attempts, 5),
              idempotency_key, schedule_id, occurrence${trace}
         FROM input ORDER BY ord
       ON CONFLICT DO NOTHING
       RETURNING id
     )
     SELECT coalesce(i.id, (
              SELECT e.id FROM ${q}.jobs e
               WHERE e.idempotency_key = input.idempotency_key OR (e.schedule_id = input.schedule_id AND e.occurrence = input.occurrence)
               LIMIT 1))::text AS id
       FROM input LEFT JOIN inserted i ON i.id = input.new_id
      ORDER BY input.ord`
}

const insertSql = textPerSchema((q) => keyedInsert(q, false))
const tracedInsertSql = textPerSchema((q) => keyedInsert(q, true))

/** Inserts the jobs in one statement; returns their ids in input order (existing ids for known keys). */
export async function insertJobs(db: Queryable, q: string, jobs: readonly NewJob[]): Promise<string[]> {
  if (jobs.length === 0) return []
  const traced = jobs.some((j) => j.traceContext !== undefined || j.traceParent !== undefined)
  if (jobs.every((j) => j.idempotencyKey === undefined && j.scheduleId === undefined))
    return insertKeyless(db, q, jobs, traced)
  const { rows } = await db.query<{ id: string | null }>(traced ? tracedInsertSql(q) : insertSql(q), [
    ...baseColumns(jobs),
    jobs.map((j) => j.idempotencyKey ?? null),
    jobs.map((j) => j.scheduleId ?? null),
    jobs.map((j) => j.occurrence ?? null),
    ...(traced ? traceColumns(jobs) : []),
  ])
  const ids = rows.map((r) => r.id)
  // A duplicate of a key that a concurrent transaction had just inserted is not visible to this
  // statement's snapshot: look those up once more now that it is committed.
  for (const [i, id] of ids.entries()) if (id === null) ids[i] = await existingId(db, q, jobs[i])
  return ids as string[]
}

/**
 * A keyless insert into `target` (by default `columns`) of `values` per row, from the set-returning
 * `rows` of `columns`; its ids back as one text.
 */
function keylessInsert(q: string, columns: string, rows: string, values: string, target = columns): string {
  return `WITH inserted AS (
       INSERT INTO ${q}.jobs (${target})
       SELECT ${values} FROM ${rows} WITH ORDINALITY AS t(${columns}, ord) ORDER BY ord
       RETURNING id
     )
     SELECT string_agg(id::text, ',' ORDER BY id) AS ids FROM inserted`
}

const keylessInsertSql = textPerSchema((q) =>
  keylessInsert(
    q,
    'name, args, args_bytes, priority, run_at, max_attempts',
    'unnest($1::text[], $2::jsonb[], $3::bytea[], $4::int[], $5::timestamptz[], $6::int[])',
    'name, args, args_bytes, coalesce(priority, 0), coalesce(run_at, now()), coalesce(max_attempts, 5)',
  ),
)

/**
 * The commonest case of all: every row takes the defaults of its options and has JSON args. The names
 * go as one text[] literal (`textArray`), the args as one JSON array, split by the server: as a
 * `jsonb[]` the driver would escape every quote of every arg once more into an array literal, which costs
 * both the caller and the server CPU per job (bench/history/jobs.md has the comparison).
 */
const plainInsertSql = textPerSchema((q) =>
  keylessInsert(q, 'name, args', 'ROWS FROM (unnest($1::text[]), jsonb_array_elements($2::jsonb))', 'name, args'),
)

/** `plainInsertSql` with one trace context that every row takes ($3, bytea): an `enqueueMany`'s. */
const plainSharedTraceInsertSql = textPerSchema((q) =>
  keylessInsert(
    q,
    'name, args',
    'ROWS FROM (unnest($1::text[]), jsonb_array_elements($2::jsonb))',
    'name, args, $3::bytea',
    'name, args, trace_parent',
  ),
)

/** `plainInsertSql` with a trace context per row ($3, bytea[]). */
const plainRowTraceInsertSql = textPerSchema((q) =>
  keylessInsert(
    q,
    'name, args, trace_parent',
    'ROWS FROM (unnest($1::text[]), jsonb_array_elements($2::jsonb), unnest($3::bytea[]))',
    'name, args, trace_parent',
  ),
)

/**
 * The keyless insert of rows of which some carry a trace context (an SDK is installed) and some take
 * options or carry it as JSON: `trace_context` as $7, `trace_parent` as $8.
 */
const tracedKeylessInsertSql = textPerSchema((q) =>
  keylessInsert(
    q,
    'name, args, args_bytes, priority, run_at, max_attempts, trace_context, trace_parent',
    'unnest($1::text[], $2::jsonb[], $3::bytea[], $4::int[], $5::timestamptz[], $6::int[], $7::jsonb[], $8::bytea[])',
    'name, args, args_bytes, coalesce(priority, 0), coalesce(run_at, now()), coalesce(max_attempts, 5), trace_context, trace_parent',
  ),
)

/**
 * The common case: no row carries a unique key (the unique indexes on keys are partial, so such rows
 * cannot conflict and the id comes from the sequence): a plain INSERT, without the arbiter checks and
 * speculative insertion of `ON CONFLICT` and without the lookup of existing ids. The rows go in in input
 * order and draw their ids from the sequence as they go, so the ids sorted are the ids in input order;
 * they come back as one comma-separated text, not a row each (the client parses one row instead of a
 * thousand). Rows that all take the table's defaults for priority, run_at and max_attempts send two
 * columns instead of six, which PostgreSQL then need not unnest and coalesce.
 */
async function insertKeyless(db: Queryable, q: string, jobs: readonly NewJob[], traced: boolean): Promise<string[]> {
  const plain = jobs.every(
    (j) =>
      j.argsBytes === undefined &&
      j.priority === undefined &&
      j.runAt === undefined &&
      j.maxAttempts === undefined &&
      j.traceContext === undefined,
  )
  if (!plain) {
    const { rows } = traced
      ? await db.query<{ ids: string }>(tracedKeylessInsertSql(q), [...baseColumns(jobs), ...traceColumns(jobs)])
      : await db.query<{ ids: string }>(keylessInsertSql(q), baseColumns(jobs))
    return idList(rows[0]?.ids)
  }
  const names = textArray(jobs.map((j) => j.name))
  const args = JSON.stringify(jobs.map((j) => j.args ?? null))
  const shared = traced ? sharedTraceParent(jobs) : undefined
  const { rows } = !traced
    ? await db.query<{ ids: string }>(plainInsertSql(q), [names, args])
    : shared !== undefined
      ? await db.query<{ ids: string }>(plainSharedTraceInsertSql(q), [names, args, shared])
      : await db.query<{ ids: string }>(plainRowTraceInsertSql(q), [names, args, jobs.map(traceParentOf)])
  return idList(rows[0]?.ids)
}

/** The `traceparent` every job carries, when they all carry the same one (an `enqueueMany`'s). */
function sharedTraceParent(jobs: readonly NewJob[]): string | undefined {
  const first = jobs[0]?.traceParent
  return first !== undefined && jobs.every((j) => j.traceParent === first) ? first : undefined
}

function traceParentOf(job: NewJob): string | null {
  return job.traceParent ?? null
}

async function existingId(db: Queryable, q: string, job: NewJob | undefined): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id::text FROM ${q}.jobs WHERE idempotency_key = $1 OR (schedule_id = $2 AND occurrence = $3) LIMIT 1`,
    [job?.idempotencyKey ?? null, job?.scheduleId ?? null, job?.occurrence ?? null],
  )
  const id = rows[0]?.id
  if (id === undefined) throw new Error('a job that conflicted on its key has vanished')
  return id
}

/** $1–$6 of both inserts, column by column: name, args (JSON text or null), args bytes, priority, run_at, max_attempts. */
function baseColumns(jobs: readonly NewJob[]): unknown[] {
  return [
    textArray(jobs.map((j) => j.name)),
    jobs.map(argsJson),
    jobs.map((j) => (j.argsBytes === undefined ? null : Buffer.from(j.argsBytes))),
    jobs.map((j) => j.priority ?? null),
    jobs.map((j) => j.runAt ?? null),
    jobs.map((j) => j.maxAttempts ?? null),
  ]
}

/** The trace context columns: JSON text and `traceparent` bytes (bytea input), null where a job has none. */
function traceColumns(jobs: readonly NewJob[]): [(string | null)[], (string | null)[]] {
  return [jobs.map((j) => j.traceContext ?? null), jobs.map(traceParentOf)]
}

/** The args as JSON text, or null for a job whose args are bytes. */
function argsJson(job: NewJob): string | null {
  return job.argsBytes === undefined ? JSON.stringify(job.args ?? null) : null
}
