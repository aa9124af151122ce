/**
 * Migration 2: the job queue.
 *
 * `jobs` holds one row per job; the row is what a claim locks (FOR UPDATE SKIP LOCKED), so a job is
 * claimed by one dispatcher at a time however many race. Every transition is a guarded UPDATE of the
 * row that also bumps `event_seq`, and appends to `job_events` in the same statement, so each job's
 * history is gap-free and ordered. `jobs_ready` serves claims in priority order at any backlog depth.
 *
 *   pending --claim--> running --complete--> completed
 *      ^                  |  \--fail / lease lapse, attempts left--> retrying --claim--> running …
 *      |                  |   \-fail / lease lapse, none left------> dead --requeue--> pending
 *      +------------------+--cancel (pending, running, retrying)--> canceled
 */
export const sql = `
CREATE TABLE jobs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  args jsonb,
  args_bytes bytea,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'retrying', 'completed', 'dead', 'canceled')),
  priority integer NOT NULL DEFAULT 0,
  run_at timestamptz NOT NULL DEFAULT now(),
  attempt integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
  last_error jsonb,
  progress jsonb,
  lease_owner text,
  lease_token uuid,
  lease_expires_at timestamptz,
  idempotency_key text UNIQUE,
  schedule_id bigint,
  occurrence timestamptz,
  event_seq integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (schedule_id, occurrence)
);

CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, id) WHERE status IN ('pending', 'retrying');
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_by_name_status ON jobs (name, status, id);

CREATE TABLE job_events (
  job_id bigint NOT NULL,
  seq integer NOT NULL,
  attempt integer NOT NULL,
  type text NOT NULL,
  data jsonb,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, seq)
);

CREATE TABLE schedules (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  job_name text NOT NULL,
  args jsonb,
  spec jsonb NOT NULL,
  next_run_at timestamptz,
  paused boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE NOT paused;

CREATE TABLE dispatch_state (
  id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  paused boolean NOT NULL DEFAULT false,
  reason text,
  paused_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO dispatch_state (id) VALUES (1);

CREATE TABLE audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  target text,
  reason text,
  data jsonb
);

-- One wake-up per statement that makes jobs ready, on a channel named after the schema.
CREATE FUNCTION notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('pulse_jobs:' || TG_TABLE_SCHEMA, '');
  RETURN NULL;
END
$$;
CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs FOR EACH STATEMENT EXECUTE FUNCTION notify_jobs();
`
