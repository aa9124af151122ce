/**
 * Migration 11: a job carries the trace context of its enqueue.
 *
 * `trace_context` holds the OpenTelemetry propagation carrier of the enqueue's `send` span
 * (`{"traceparent": "00-…", "tracestate": "…"}`), written only when the enqueue ran under a valid span
 * context (an SDK is installed); each attempt's `process` span links to it. Without an SDK it stays
 * NULL, which costs nothing: the inserts that write it are other statements, and the claim returns the
 * NULL as it is. jsonb, so that an operator can find the jobs of a trace
 * (`trace_context->>'traceparent' LIKE '00-<trace id>-%'`).
 *
 * Nullable without a default: adding it rewrites nothing.
 */
export const sql = `
ALTER TABLE jobs ADD COLUMN trace_context jsonb;
`
