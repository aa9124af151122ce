/**
 * Migration 8: an attempt's start is no longer an event row of its own.
 *
 * A claim wrote a 'started' row per job beside the job's new version: a heap tuple and a primary-key
 * entry that held nothing the claimed row does not (the claim's time, the owner of the lease). From now
 * on the claim stamps `started_at` on the job (its owner is `lease_owner`, which is now kept after the
 * attempt as the owner of the last lease), and the row that ends the attempt — 'completed', 'failed'
 * (a retry's or a dead-letter's, a reaped lease's too) or 'canceled' — carries both (`started_at`,
 * `owner`). So a job that runs once leaves one event row instead of two, and the claim writes one tuple
 * less per job.
 *
 * `job_history` is still the full history, each entry with the seq it had: the events, the 'enqueued'
 * entry made from the job row (migration 5), the 'started' entry of every ended attempt made from the
 * row that ended it (seq one less), and the 'started' entry of the attempt running now made from the job
 * row. Attempts started before this migration keep their own 'started' row, which the view shows
 * instead. Stop the workers of an older version first: their completions do not carry the start, so an
 * attempt claimed by a newer worker and completed by an older one would show no 'started' entry.
 *
 * The new columns are nullable without a default: adding them rewrites nothing.
 */
export const sql = `
ALTER TABLE jobs ADD COLUMN started_at timestamptz;
ALTER TABLE job_events ADD COLUMN started_at timestamptz, ADD COLUMN owner text;

CREATE OR REPLACE VIEW job_history AS
  SELECT e.job_id, e.seq, e.attempt, e.type, e.data, e.at FROM job_events e
  UNION ALL
  SELECT j.id, 1, 0, 'enqueued', NULL::jsonb, j.created_at FROM jobs j
   WHERE NOT EXISTS (SELECT FROM job_events e WHERE e.job_id = j.id AND e.seq = 1)
  UNION ALL
  SELECT e.job_id, e.seq - 1, e.attempt, 'started', jsonb_build_object('owner', e.owner), e.started_at FROM job_events e
   WHERE e.started_at IS NOT NULL
     AND NOT EXISTS (SELECT FROM job_events s WHERE s.job_id = e.job_id AND s.seq = e.seq - 1)
  UNION ALL
  SELECT j.id, j.event_seq, j.attempt, 'started', jsonb_build_object('owner', j.lease_owner), j.started_at FROM jobs j
   WHERE j.status = 'running' AND j.started_at IS NOT NULL
     AND NOT EXISTS (SELECT FROM job_events s WHERE s.job_id = j.id AND s.seq = j.event_seq);
`
