/**
 * Migration 7: lease tokens come from a sequence (bigint), no longer `gen_random_uuid()`.
 *
 * A token only has to differ from every token the job had before, so that a stale holder's ack,
 * failure, renewal or progress matches nothing (fencing); a sequence gives that, and increasing numbers
 * are the classic fencing token. A random uuid per claimed row costs the claim server CPU (the strong
 * random source behind it) and the ack more to parse and compare; a `nextval` is a fraction of that.
 *
 * The column is replaced, not converted, so the table is not rewritten (a type change would copy every
 * row and rebuild every index under the exclusive lock): a new column, set for the running jobs only
 * (found through `jobs_leases`), takes the old one's name and its constraint (migration 6), which is
 * validated in one scan of the table. The jobs running while this migrates get new tokens: the workers
 * that hold them (of an older version, whose statements send uuids) are fenced off, and their jobs are
 * reaped and run again when the leases lapse — stop the older workers first.
 */
export const sql = `
CREATE SEQUENCE jobs_lease_token_seq AS bigint;
ALTER TABLE jobs ADD COLUMN lease_token_seq bigint;
UPDATE jobs SET lease_token_seq = nextval('jobs_lease_token_seq') WHERE status = 'running';
ALTER TABLE jobs DROP COLUMN lease_token;
ALTER TABLE jobs RENAME COLUMN lease_token_seq TO lease_token;
ALTER TABLE jobs ADD CONSTRAINT jobs_lease_token_iff_running CHECK ((status = 'running') = (lease_token IS NOT NULL));
`
