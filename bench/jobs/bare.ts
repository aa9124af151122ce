/**
 * The ceiling: a bare SQL claim/ack loop with no library. Table `bare_jobs` with a partial index on
 * `(id) WHERE status = 0` and a statement-level NOTIFY trigger; one claim loop takes up to 500 jobs (FOR
 * UPDATE SKIP LOCKED), runs them with at most C handlers in flight, and acks batch k in the claim
 * statement of batch k + 1 (one data-modifying CTE, autocommit: durable). No retries, leases or
 * stalled-job recovery: a ceiling, not an equivalent. Durable completion = the claim that carried the
 * ack returned.
 *
 * `bare SQL + history` is the same loop with the bookkeeping pulse does on every transition and no
 * more, kept as pulse keeps it: a fenced lease per claim (a token from a sequence, an expiry under a
 * partial index for a reaper to find), and an event row per attempt, keyed `(job_id, seq)` for a job's
 * history, written by the statement that ends it ('completed') and carrying the attempt's start (the
 * claim's `locked_at` and `locked_by`; pulse's migration 8). Still one statement per cycle, one
 * connection, no threads: what those rows cost the loop itself (bench/jobs, BENCHMARKS.md "the bare
 * loop with a history").
 */
import pg from 'pg'

import { type BulkResult, type JobsAdapter, type SteadyOptions, type SteadyResult, startCpuReading } from './adapter.js'
import { exec } from './server.js'
import { LatencyRecorder, paced } from './steady.js'

const kClaimMax = 500

const kSchema = `
CREATE TABLE IF NOT EXISTS bare_jobs (
  id bigserial PRIMARY KEY, queue text NOT NULL, payload jsonb, status smallint NOT NULL DEFAULT 0,
  attempts int NOT NULL DEFAULT 0, locked_by text, locked_at timestamptz, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS bare_jobs_ready ON bare_jobs (id) WHERE status = 0;
CREATE OR REPLACE FUNCTION bare_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('bare_jobs', ''); RETURN NULL; END $$;
DROP TRIGGER IF EXISTS bare_jobs_notify ON bare_jobs;
CREATE TRIGGER bare_jobs_notify AFTER INSERT ON bare_jobs FOR EACH STATEMENT EXECUTE FUNCTION bare_notify();`

/** The history variant's additions: lease columns and their index, the token sequence, the events. */
const kHistorySchema = `
ALTER TABLE bare_jobs ADD COLUMN IF NOT EXISTS lease_token bigint, ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz,
  ADD COLUMN IF NOT EXISTS event_seq int NOT NULL DEFAULT 1;
CREATE INDEX IF NOT EXISTS bare_jobs_leases ON bare_jobs (lease_expires_at) WHERE status = 1;
CREATE SEQUENCE IF NOT EXISTS bare_lease_tokens;
CREATE TABLE IF NOT EXISTS bare_events (
  job_id bigint NOT NULL, seq int NOT NULL, type text NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (job_id, seq));
ALTER TABLE bare_events ADD COLUMN IF NOT EXISTS started_at timestamptz, ADD COLUMN IF NOT EXISTS owner text;`

const kClaim = `
WITH acked AS (UPDATE bare_jobs SET status = 2 WHERE id = ANY($3::bigint[]))
UPDATE bare_jobs SET status = 1, locked_by = $1, locked_at = now(), attempts = attempts + 1
 WHERE id IN (SELECT id FROM bare_jobs WHERE queue = $2 AND status = 0 ORDER BY id FOR UPDATE SKIP LOCKED LIMIT ${kClaimMax})
RETURNING id, payload`

/** Acks `$3` (ids) fenced by `$4` (their tokens), claims the next batch under new leases; an event row per attempt. */
const kHistoryClaim = `
WITH acked AS (
  UPDATE bare_jobs SET status = 2, lease_token = NULL, lease_expires_at = NULL, event_seq = event_seq + 1
   WHERE id = ANY($3::bigint[]) AND lease_token = ANY($4::bigint[])
  RETURNING id, event_seq, locked_at, locked_by
), acked_events AS (
  INSERT INTO bare_events (job_id, seq, type, started_at, owner) SELECT id, event_seq, 'completed', locked_at, locked_by FROM acked
), claimed AS (
  UPDATE bare_jobs SET status = 1, locked_by = $1, locked_at = now(), attempts = attempts + 1,
         lease_token = nextval('bare_lease_tokens'), lease_expires_at = now() + interval '30 seconds', event_seq = event_seq + 1
   WHERE id IN (SELECT id FROM bare_jobs WHERE queue = $2 AND status = 0 ORDER BY id FOR UPDATE SKIP LOCKED LIMIT ${kClaimMax})
  RETURNING id, payload, lease_token
)
SELECT id, payload, lease_token::text FROM claimed`

/** The claim loop's statement: its text, and its parameters after the owner and queue ($1, $2). */
interface ClaimStatement {
  text: string
  acks(rows: readonly ClaimedRow[]): unknown[]
}

interface ClaimedRow {
  id: string
  payload: unknown
  lease_token?: string
}

const kBare: ClaimStatement = { text: kClaim, acks: (rows) => [rows.map((r) => r.id)] }
const kWithHistory: ClaimStatement = {
  text: kHistoryClaim,
  acks: (rows) => [rows.map((r) => r.id), rows.map((r) => r.lease_token)],
}

interface Loop {
  stop(): Promise<void>
}

/** Starts the claim loop; `onAcked(n)` after each claim that committed n acks. */
async function startLoop(
  url: string,
  statement: ClaimStatement,
  concurrency: number,
  handler: (payload: unknown) => unknown,
  onAcked: (n: number) => void,
): Promise<Loop> {
  const client = new pg.Client({ connectionString: url })
  const listener = new pg.Client({ connectionString: url })
  await client.connect()
  await listener.connect()
  let running = true
  let notified = false
  let wake: (() => void) | undefined
  const poke = (): void => {
    notified = true
    wake?.()
  }
  listener.on('notification', poke)
  await listener.query('LISTEN bare_jobs')
  const loop = (async () => {
    let acks: ClaimedRow[] = []
    while (running) {
      notified = false
      const { rows } = await client.query<ClaimedRow>(statement.text, ['bench', 'noop', ...statement.acks(acks)])
      if (acks.length > 0) onAcked(acks.length)
      acks = []
      if (rows.length === 0) {
        if (!notified && running) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 1_000)
            wake = () => {
              clearTimeout(timer)
              resolve()
            }
          })
          wake = undefined
        }
        continue
      }
      let next = 0
      await Promise.all(
        Array.from({ length: Math.min(concurrency, rows.length) }, async () => {
          while (next < rows.length) {
            const row = rows[next++] as ClaimedRow
            await handler(row.payload)
            acks.push(row)
          }
        }),
      )
    }
    if (acks.length > 0)
      await client.query('UPDATE bare_jobs SET status = 2 WHERE id = ANY($1::bigint[])', [acks.map((r) => r.id)])
  })()
  return {
    async stop() {
      running = false
      poke()
      await loop
      await client.end()
      await listener.end()
    },
  }
}

/** `loops` claim loops at once, each on its own connection with its share of the handlers. */
async function startLoops(loops: number, ...args: Parameters<typeof startLoop>): Promise<Loop> {
  const [url, statement, concurrency, handler, onAcked] = args
  const all = await Promise.all(
    Array.from({ length: loops }, () => startLoop(url, statement, Math.ceil(concurrency / loops), handler, onAcked)),
  )
  return { stop: async () => void (await Promise.all(all.map((l) => l.stop()))) }
}

/**
 * The bare loop; `{ history: true }`: with leases and an event row per attempt ('bare SQL + history');
 * `{ loops: k }`: k loops at once on k connections, the handlers shared out ('… ×k'); `args`: the bulk
 * phase's payload (`{}` when undefined).
 */
export function bareAdapter(
  url: string,
  options: { history?: boolean; loops?: number; args?: unknown } = {},
): JobsAdapter {
  let pool: pg.Pool | undefined
  const loops = options.loops ?? 1
  const history = options.history === true
  const statement = history ? kWithHistory : kBare
  const tables = history ? 'bare_jobs, bare_events' : 'bare_jobs'

  async function clean(): Promise<void> {
    await exec(url, `TRUNCATE ${tables} RESTART IDENTITY`)
    await exec(url, `VACUUM ANALYZE ${tables}`)
  }

  return {
    name: (history ? 'bare SQL + history' : 'bare SQL') + (loops > 1 ? ` ×${loops}` : ''),
    async setup() {
      await exec(url, kSchema)
      if (history) await exec(url, kHistorySchema)
      pool = new pg.Pool({ connectionString: url, max: 10 })
    },
    async bulk(n: number, concurrency: number): Promise<BulkResult> {
      const p = pool as pg.Pool
      await clean()
      let acked = 0
      let resolveDone!: (t: number) => void
      const done = new Promise<number>((r) => (resolveDone = r))
      const loop = await startLoops(
        loops,
        url,
        statement,
        concurrency,
        () => undefined,
        (k) => {
          acked += k
          if (acked >= n) resolveDone(performance.now())
        },
      )
      try {
        const payloads = Array.from({ length: 1000 }, () => JSON.stringify(options.args ?? {}))
        const t0 = performance.now()
        const cpu = startCpuReading()
        for (let sent = 0; sent < n; sent += 1000) {
          await p.query('INSERT INTO bare_jobs (queue, payload) SELECT $1, unnest($2::jsonb[])', [
            'noop',
            sent + 1000 <= n ? payloads : payloads.slice(0, n - sent),
          ])
        }
        const submitted = performance.now()
        const t1 = await done
        return { e2e: (n * 1000) / (t1 - t0), submit: (n * 1000) / (submitted - t0), drainCpu: cpu() }
      } finally {
        await loop.stop()
      }
    },
    async steady(options: SteadyOptions): Promise<SteadyResult> {
      const p = pool as pg.Pool
      await clean()
      const recorder = new LatencyRecorder()
      const loop = await startLoops(
        loops,
        url,
        statement,
        options.concurrency,
        (payload) => recorder.onStart(payload),
        () => undefined,
      )
      try {
        return await paced(options, recorder, (args) =>
          p.query('INSERT INTO bare_jobs (queue, payload) VALUES ($1, $2)', ['noop', JSON.stringify(args)]),
        )
      } finally {
        await loop.stop()
      }
    },
    async teardown() {
      await pool?.end()
    },
  }
}
