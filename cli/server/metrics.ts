/**
 * `/metrics`: Prometheus text from one prom-client `Registry` — the process's default metrics, the
 * library's own (each part registers there when given it as `metrics`: jobs, bus, runtime), and, for
 * a server with a job queue, the job counts read at each scrape: `pulse_jobs{name,status}` and
 * `pulse_jobs_oldest_waiting_seconds` (how long the oldest job waiting to be claimed has been due; 0
 * when none waits).
 */
import { collectDefaultMetrics, Registry } from 'prom-client'

import type { JobQueue } from '../../actors/jobs/index.js'
import { coalesce, gauge, perRegistry, ScrapeSources } from '../../runtime/metrics.js'
import type { HttpContext } from '../../transports/http/index.js'

/** A registry with the process's default metrics, for the library objects and `/metrics`. */
export function serverRegistry(): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  return registry
}

type JobStatsSource = () => ReturnType<JobQueue['stats']>

function buildJobGauges(registry: Registry): ScrapeSources<JobStatsSource> {
  const queues = new ScrapeSources<JobStatsSource>()
  const stats = coalesce(() => Promise.all([...queues].map((read) => read())))
  gauge(registry, {
    name: 'pulse_jobs',
    help: 'Jobs in the queue by name and status.',
    labelNames: ['name', 'status'],
    async collect() {
      const all = await stats()
      this.reset()
      for (const { byName } of all) {
        for (const [name, counts] of Object.entries(byName)) {
          for (const [status, count] of Object.entries(counts)) this.inc({ name, status }, count)
        }
      }
    },
  })
  gauge(registry, {
    name: 'pulse_jobs_oldest_waiting_seconds',
    help: 'How long the oldest job waiting to be claimed has been due (0 when none waits).',
    async collect() {
      const all = await stats()
      this.set(Math.max(0, ...all.map((s) => s.oldestPendingAgeMs ?? 0)) / 1000)
    },
  })
  return queues
}

/** Reads `queue`'s counts into the job gauges of `registry` at each scrape; the returned function stops it. */
export function addJobGauges(registry: Registry, queue: JobQueue): () => void {
  return perRegistry(registry, 'pulse-server:jobs', buildJobGauges).add(() => queue.stats())
}

/** The `/metrics` handler over `registry`. */
export function metricsHandler(registry: Registry) {
  return async (ctx: HttpContext): Promise<void> => {
    const text = await registry.metrics()
    ctx.send(200, text, { 'Content-Type': registry.contentType })
  }
}
