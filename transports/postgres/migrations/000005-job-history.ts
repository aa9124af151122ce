/**
 * Migration 5: a job's creation is no longer an event row.
 *
 * Enqueue wrote a `job_events` row ('enqueued', seq 1, attempt 0) beside every job row: a heap tuple and
 * a primary-key entry per job (about a third of the event rows, and of the enqueue statement's WAL) that
 * held nothing the job row does not (`created_at`; `event_seq` starts at 1). From now on `job_events`
 * holds the transitions only (claim, completion, failure, retry, dead-letter, cancel, requeue), still
 * each in the statement of its guarded UPDATE, and `job_history` is the full history: the events plus
 * the 'enqueued' entry made from the job row. Rows enqueued before this migration keep their own seq-1
 * event, which the view shows instead.
 */
export const sql = `
CREATE VIEW job_history AS
  SELECT e.job_id, e.seq, e.attempt, e.type, e.data, e.at FROM job_events e
  UNION ALL
  SELECT j.id, 1, 0, 'enqueued', NULL::jsonb, j.created_at FROM jobs j
   WHERE NOT EXISTS (SELECT FROM job_events e WHERE e.job_id = j.id AND e.seq = 1);
`
