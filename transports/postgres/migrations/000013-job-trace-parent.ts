/**
 * Migration 13: a job's trace context in 25 bytes.
 *
 * `trace_parent` holds the W3C `traceparent` of the enqueue's `send` span as bytes: the trace id (16),
 * the span id (8) and the trace flags (1), version 00 implied. It is what the enqueue writes whenever
 * the propagator's carrier is that `traceparent` alone (the W3C propagator's output without a
 * `tracestate`); any other carrier still goes to `trace_context` (migration 11) as JSON. A row has at
 * most one of the two, and a row written before this migration keeps its JSON, which the claim still
 * returns. The bytes are a third of the JSON's size, and a job's row is written at the enqueue and
 * rewritten by its claim and its ack, so the trace context's share of each write shrinks with it.
 *
 * To find the jobs of a trace: `WHERE substring(trace_parent FOR 16) = '\x<trace id>'::bytea` (or the
 * JSON form, `trace_context->>'traceparent' LIKE '00-<trace id>-%'`).
 *
 * Nullable without a default: adding it rewrites nothing.
 */
export const sql = `
ALTER TABLE jobs ADD COLUMN trace_parent bytea;
`
