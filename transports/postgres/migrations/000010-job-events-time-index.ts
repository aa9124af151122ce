/**
 * Migration 10: the recent transitions by time.
 *
 * Operators' overviews read `job_events` by time window — completions, failures and dead-letters per
 * minute over the last hour, the latency of the newest completed attempts — and with no index on `at`
 * each of these read the whole table (about 250 ms per million events). Events are appended in time
 * order, so a BRIN index (one summary, the min and max `at`, per 128 heap pages) lets a window read
 * only the pages written in it. Its cost on the hot path is about nothing: a row added to a range not
 * summarized yet (the table's tail, where appends go) writes no index entry, and `autosummarize` has
 * autovacuum summarize each range once it is full. Ranges not summarized yet are always read, so a
 * window read is exact, only slower until autovacuum catches up (after a bulk load, say).
 *
 * Built in the migration's transaction (no CONCURRENTLY in one), it holds off writes to `job_events`
 * while it scans the table: a fraction of a second per million rows.
 */
export const sql = `
CREATE INDEX job_events_at ON job_events USING brin (at) WITH (autosummarize = on);
`
