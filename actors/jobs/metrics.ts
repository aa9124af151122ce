/**
 * The job queue's metrics, made once per registry (`runtime/metrics.ts`):
 *
 * | metric                          | type      | labels | counted where                                       |
 * |---------------------------------|-----------|--------|-----------------------------------------------------|
 * | `pulse_jobs_enqueued_total`     | counter   | name   | `enqueue` / `enqueueMany` resolved (the caller)     |
 * | `pulse_jobs_completed_total`    | counter   | name   | a completion acked (the owner's worker)             |
 * | `pulse_jobs_failed_total`       | counter   | name   | a failed attempt acked or reaped (retrying or dead) |
 * | `pulse_jobs_dead_total`         | counter   | name   | of those, the dead-lettered                         |
 * | `pulse_job_run_seconds`         | histogram | name   | handler start → its promise settled                 |
 * | `pulse_job_wait_seconds`        | histogram | name   | due (enqueue, delay or retry) → claimed             |
 * | `pulse_jobs_claims_total`       | counter   |        | claim statements of the dispatchers                 |
 * | `pulse_jobs_empty_claims_total` | counter   |        | of those, the ones that found no job                |
 * | `pulse_jobs_leases_lost_total`  | counter   |        | leases a worker held and the database took back     |
 *
 * Everything but the claims is counted on the caller's thread, from what the actors tell the worker
 * anyway (claimed jobs, acks, reaps, lost leases). Each job is counted once across a cluster: acks by
 * the worker that ran it, reaps by the worker whose watchdog reaped it. The claims are counted in the
 * dispatcher actors and pulled by the scrape: one `stats` ask per dispatcher per scrape, answered with
 * the counts since the last one.
 */
import type { Counter, Histogram, Registry } from 'prom-client'

import { coalesce, counter, histogram, perRegistry, ScrapeSources } from '../../runtime/metrics.js'

/** Claim counts a dispatcher reports (since its last report). */
export interface ClaimCounts {
  claims: number
  empty: number
}

export interface JobMetrics {
  readonly enqueued: Counter<'name'>
  readonly completed: Counter<'name'>
  readonly failed: Counter<'name'>
  readonly dead: Counter<'name'>
  readonly run: Histogram<'name'>
  readonly wait: Histogram<'name'>
  readonly claims: Counter
  readonly emptyClaims: Counter
  readonly leasesLost: Counter
  /** The dispatchers' claim counts, read at scrape time. */
  readonly dispatchers: ScrapeSources<() => Promise<ClaimCounts>>
}

function build(registry: Registry): JobMetrics {
  const dispatchers = new ScrapeSources<() => Promise<ClaimCounts>>()
  const pull = coalesce(async () => {
    const counts = await Promise.all([...dispatchers].map((read) => read().catch(() => undefined)))
    for (const c of counts) {
      if (c === undefined) continue
      claims.inc(c.claims)
      emptyClaims.inc(c.empty)
    }
  })
  const byName = (name: string, help: string) => counter(registry, { name, help, labelNames: ['name'] })
  const claims = counter(registry, {
    name: 'pulse_jobs_claims_total',
    help: 'Claim statements the dispatchers ran.',
    collect: pull,
  })
  const emptyClaims = counter(registry, {
    name: 'pulse_jobs_empty_claims_total',
    help: 'Claim statements that found no job.',
    collect: pull,
  })
  return {
    enqueued: byName('pulse_jobs_enqueued_total', 'Jobs enqueued.'),
    completed: byName('pulse_jobs_completed_total', 'Jobs completed (acked).'),
    failed: byName('pulse_jobs_failed_total', 'Failed attempts (acked or reaped), retried or dead-lettered.'),
    dead: byName('pulse_jobs_dead_total', 'Jobs dead-lettered.'),
    run: histogram(registry, {
      name: 'pulse_job_run_seconds',
      help: 'Attempts from the handler start to its end.',
      labelNames: ['name'],
    }),
    wait: histogram(registry, {
      name: 'pulse_job_wait_seconds',
      help: 'Jobs from their due time (enqueue, delay or retry) to their claim.',
      labelNames: ['name'],
    }),
    claims,
    emptyClaims,
    leasesLost: counter(registry, {
      name: 'pulse_jobs_leases_lost_total',
      help: 'Leases a worker held that the database no longer showed as its own (reaped, canceled).',
    }),
    dispatchers,
  }
}

/** The job metrics of `registry` (made on first use). */
export function jobMetrics(registry: Registry): JobMetrics {
  return perRegistry(registry, 'pulse_jobs', build)
}
