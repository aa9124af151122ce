/**
 * Migration 3: named schedules with byte payloads.
 *
 * - A schedule's name is unique: declaring a schedule under a name that exists updates that schedule
 *   instead of adding a second one, so replicas that each declare their schedules at boot converge on
 *   one row (graphile-worker's crontab identifiers, BullMQ's job scheduler ids).
 * - `args_bytes` holds a payload given as bytes (`args` stays NULL then), as `jobs.args_bytes` does.
 */
export const sql = `
CREATE UNIQUE INDEX schedules_name ON schedules (name);
ALTER TABLE schedules ADD COLUMN args_bytes bytea;
`
