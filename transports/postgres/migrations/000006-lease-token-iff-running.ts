/**
 * Migration 6: a job holds a lease token exactly while it runs.
 *
 * Every statement already keeps it so (a claim sets `status = 'running'` and a token together; complete,
 * fail, reap, cancel and requeue clear the token as they leave 'running'); the constraint makes it a
 * rule, so that a token match alone proves the job runs. The lease-guarded statements (ack, fail,
 * renew: hot-path.ts) rely on it: they match `(id, lease_token)` without naming the status, which keeps
 * the planner off the partial index `jobs_leases` (its predicate is `status = 'running'`), through which
 * it read the lease of every running job of every worker to find the few it acks.
 */
export const sql = `
ALTER TABLE jobs ADD CONSTRAINT jobs_lease_token_iff_running CHECK ((status = 'running') = (lease_token IS NOT NULL));
`
