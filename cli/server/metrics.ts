/**
 * `/metrics`: Prometheus text from a prom-client `Registry` — the process's default metrics and, when
 * the server has a job queue, the job counts read at each scrape: `pulse_jobs{name,status}` and
 * `pulse_jobs_oldest_waiting_seconds` (how long the oldest job waiting to be claimed has been due; 0
 * when none waits).
 */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'

import type { JobQueue } from '../../actors/jobs/index.js'
import type { HttpContext } from '../../transports/http/index.js'

/** A registry with the process metrics and, given a queue, its job gauges. */
export function serverRegistry(queue: JobQueue | undefined): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  if (queue !== undefined) addJobGauges(registry, queue)
  return registry
}

/** `read`, shared by the callers that come while one call is in flight (the gauges of one scrape). */
function shared<T>(read: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined
  return () => {
    inFlight ??= read().finally(() => (inFlight = undefined))
    return inFlight
  }
}

function addJobGauges(registry: Registry, queue: JobQueue): void {
  const stats = shared(() => queue.stats())
  new Gauge({
    name: 'pulse_jobs',
    help: 'Jobs in the queue by name and status.',
    labelNames: ['name', 'status'] as const,
    registers: [registry],
    async collect() {
      const { byName } = await stats()
      this.reset()
      for (const [name, counts] of Object.entries(byName)) {
        for (const [status, count] of Object.entries(counts)) this.set({ name, status }, count)
      }
    },
  })
  new Gauge({
    name: 'pulse_jobs_oldest_waiting_seconds',
    help: 'How long the oldest job waiting to be claimed has been due (0 when none waits).',
    registers: [registry],
    async collect() {
      this.set(((await stats()).oldestPendingAgeMs ?? 0) / 1000)
    },
  })
}

/** The `/metrics` handler over `registry`. */
export function metricsHandler(registry: Registry) {
  return async (ctx: HttpContext): Promise<void> => {
    const text = await registry.metrics()
    ctx.send(200, text, { 'Content-Type': registry.contentType })
  }
}
