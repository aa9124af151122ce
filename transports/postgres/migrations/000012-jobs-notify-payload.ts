/**
 * Migration 12: the insert trigger's notification says what was inserted.
 *
 * The payload is a JSON object: `n`, the number of rows the statement inserted, and `names`, their
 * distinct job names (left out when the object would pass 7,900 bytes, under NOTIFY's 8,000). A
 * statement that inserted nothing (every row an idempotency key that exists already) notifies nobody.
 * The rows come from the statement's transition table, so the trigger stays one per statement.
 *
 * The channel is the same, `pulse_jobs:<schema>`. Its listener is one dispatcher per group of workers
 * that handle the same names (the waker, actors/jobs/wakes.ts): from the count and the names it tells
 * whether it can take the jobs alone or hands its role to another worker of its group.
 */
export const sql = `
CREATE OR REPLACE FUNCTION notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  inserted_count bigint;
  inserted_names text[];
  payload text;
BEGIN
  SELECT count(*), array_agg(DISTINCT name) INTO inserted_count, inserted_names FROM inserted_jobs;
  IF inserted_count = 0 THEN
    RETURN NULL;
  END IF;
  payload := json_build_object('n', inserted_count, 'names', inserted_names)::text;
  IF octet_length(payload) > 7900 THEN
    payload := json_build_object('n', inserted_count)::text;
  END IF;
  PERFORM pg_notify('pulse_jobs:' || TG_TABLE_SCHEMA, payload);
  RETURN NULL;
END
$$;
DROP TRIGGER jobs_notify_insert ON jobs;
CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS inserted_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION notify_jobs();
`
