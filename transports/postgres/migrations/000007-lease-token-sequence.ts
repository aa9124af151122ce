/**
 * Migration 7: lease tokens come from a sequence (bigint), no longer `gen_random_uuid()`.
 *
 * A token only has to differ from every token the job had before, so that a stale holder's ack,
 * failure, renewal or progress matches nothing (fencing); a sequence gives that, and increasing numbers
 * are the classic fencing token. A random uuid per claimed row cost the claim ~2.5 µs of server CPU
 * per job (the strong random source behind it), and the ack ~1.5 µs more to parse and compare; a
 * `nextval` is a fraction of that (bench/jobs: "Fencing tokens from a sequence").
 *
 * The jobs running while this migrates get new tokens: the workers that hold them (of an older
 * version, whose statements send uuids) are fenced off, and their jobs are reaped and run again when
 * the leases lapse — stop the older workers first.
 */
export const sql = `
CREATE SEQUENCE jobs_lease_token_seq AS bigint;
ALTER TABLE jobs ALTER COLUMN lease_token TYPE bigint
  USING CASE WHEN lease_token IS NULL THEN NULL ELSE nextval('jobs_lease_token_seq') END;
`
