/**
 * Migration 1: the `meta` key/value table, holding the schema's creation info under `created`.
 *
 * Applied migrations are never edited (their checksum is recorded): change the schema with a new file.
 * The statements run with `search_path` set to the target schema, so names are left unqualified.
 */
export const sql = `
CREATE TABLE meta (
  key text PRIMARY KEY,
  value jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO meta (key, value)
VALUES (
  'created',
  jsonb_build_object(
    'at', now(),
    'by', current_user,
    'schema', current_schema(),
    'serverVersion', current_setting('server_version_num')::int
  )
);
`
