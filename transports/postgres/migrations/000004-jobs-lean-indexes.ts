/**
 * Migration 4: fewer index writes per job on the hot path.
 *
 * A transition changes `status` (and the lease columns), which partial indexes name in their
 * predicates, so no claim, completion or failure is a HOT update: each one adds an entry to EVERY
 * index of `jobs` whose predicate the new row version satisfies. Three versions per job at least
 * (insert, claim, completion), so every full index costs three entries per job.
 *
 * - `jobs_by_name_status (name, status, id)` goes: a text key written three times per job, about a
 *   tenth of the database time of a job measured (bench/jobs/probes/cycle-probe.ts). No hot statement reads
 *   it (claims go through `jobs_ready`, reaping through `jobs_leases`); `listJobs` by name now walks
 *   the primary key newest first and filters (cheap while the name is common among recent jobs, a
 *   scan for a rare one), and `stats()` aggregates the whole table either way.
 * - The unique keys become partial: `idempotency_key` and `(schedule_id, occurrence)` are unique where
 *   they are set, and the rows without them (most jobs) write no entry there at all. The uniqueness
 *   rules and `ON CONFLICT DO NOTHING` (enqueue.ts) are the same.
 */
export const sql = `
DROP INDEX jobs_by_name_status;

ALTER TABLE jobs DROP CONSTRAINT jobs_idempotency_key_key;
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;

ALTER TABLE jobs DROP CONSTRAINT jobs_schedule_id_occurrence_key;
CREATE UNIQUE INDEX jobs_schedule_occurrence ON jobs (schedule_id, occurrence) WHERE schedule_id IS NOT NULL;
`
