/**
 * The job queue's metrics move as it works: enqueues, completions, failures and dead-letters by name,
 * run and wait histograms, the dispatcher's claims (pulled at scrape time), a lost lease, the actors of
 * the worker's runtime — and nothing is registered anywhere without `metrics`.
 */
import { register as defaultRegistry, Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { JobQueue, type JobQueueOptions } from '../../../actors/jobs/index.js'
import { gate, nextEvents } from '../../fixtures/jobs/execution-support.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { metricUntil, metricValue, observations } from './helpers.js'

let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db.drop()
})

async function withQueue(options: Omit<JobQueueOptions, 'pg'>, fn: (queue: JobQueue) => Promise<void>): Promise<void> {
  const queue = await JobQueue.connect({ pg: db.url, pollIntervalMs: 50, backoff: 10, ...options })
  try {
    await fn(queue)
  } finally {
    await queue.close()
  }
}

describe('job metrics', () => {
  it('count enqueued and completed jobs, observe run and wait times, count claims', async () => {
    const registry = new Registry()
    await withQueue({ metrics: registry }, async (queue) => {
      queue.register('x', () => undefined)
      await queue.start({ concurrency: 4, schedules: false })
      const completed = nextEvents(queue, 'completed', 10)
      await queue.enqueueMany(Array.from({ length: 10 }, (_, n) => ({ name: 'x', args: { n } })))
      await completed

      expect(await metricValue(registry, 'pulse_jobs_enqueued_total', { name: 'x' })).toBe(10)
      expect(await metricValue(registry, 'pulse_jobs_completed_total', { name: 'x' })).toBe(10)
      expect(await metricValue(registry, 'pulse_jobs_failed_total', { name: 'x' })).toBeUndefined()
      expect(await observations(registry, 'pulse_job_run_seconds', { name: 'x' })).toBe(10)
      expect(await observations(registry, 'pulse_job_wait_seconds', { name: 'x' })).toBe(10)
      expect(await metricValue(registry, 'pulse_jobs_claims_total')).toBeGreaterThanOrEqual(1)
      // The 50 ms poll claims on an empty queue from now on.
      await metricUntil(registry, 'pulse_jobs_empty_claims_total', (n) => n >= 1)
      // The actors of the runtime the worker started, read from its stats at scrape time.
      const text = await registry.getSingleMetricAsString('pulse_actor_messages_total')
      expect(text).toMatch(/^pulse_actor_messages_total\{actor="pulse-jobs:pulse:[^"]+:dispatcher"\} [1-9]\d*$/m)
    })
    // Closed: its sources are gone; the counts stay.
    expect(await metricValue(registry, 'pulse_actor_mailbox_depth')).toBeUndefined()
    expect(await metricValue(registry, 'pulse_jobs_completed_total', { name: 'x' })).toBe(10)
  })

  it('count failed attempts and dead-letters', async () => {
    const registry = new Registry()
    await withQueue({ metrics: registry }, async (queue) => {
      queue.register('boom', () => {
        throw new Error('no')
      })
      await queue.start({ schedules: false })
      const dead = nextEvents(queue, 'dead', 1)
      await queue.enqueue('boom', null, { maxAttempts: 2 })
      await dead
      expect(await metricValue(registry, 'pulse_jobs_failed_total', { name: 'boom' })).toBe(2)
      expect(await metricValue(registry, 'pulse_jobs_dead_total', { name: 'boom' })).toBe(1)
      expect(await observations(registry, 'pulse_job_run_seconds', { name: 'boom' })).toBe(2)
    })
  })

  it('count a lease lost (the job canceled while it runs)', async () => {
    const registry = new Registry()
    await withQueue({ metrics: registry, leaseTtlMs: 300 }, async (queue) => {
      const entered = gate()
      const aborted = gate()
      queue.register('hold', async (_args, job) => {
        entered.open()
        await new Promise((resolve) => job.signal.addEventListener('abort', resolve, { once: true }))
        aborted.open()
      })
      await queue.start({ schedules: false })
      const id = await queue.enqueue('hold', null)
      await entered.promise
      expect(await metricValue(registry, 'pulse_jobs_leases_lost_total')).toBe(0)
      await queue.cancel(id)
      // The watchdog's next renewal (every ttl / 3) finds the lease gone and aborts the attempt.
      await aborted.promise
      expect(await metricValue(registry, 'pulse_jobs_leases_lost_total')).toBe(1)
    })
  })

  it('share one set of metrics between two queues on one registry', async () => {
    const registry = new Registry()
    const other = await JobQueue.connect({ pg: db.url, metrics: registry })
    try {
      await withQueue({ metrics: registry }, async (queue) => {
        await queue.enqueue('shared', null)
        await other.enqueue('shared', null, { delayMs: 60_000 })
        expect(await metricValue(registry, 'pulse_jobs_enqueued_total', { name: 'shared' })).toBe(2)
      })
    } finally {
      await other.close()
    }
  })

  it('register nothing anywhere without metrics', async () => {
    await withQueue({}, async (queue) => {
      queue.register('plain', () => undefined)
      await queue.start({ schedules: false })
      const completed = nextEvents(queue, 'completed', 1)
      await queue.enqueue('plain', null)
      await completed
    })
    expect(defaultRegistry.getMetricsAsArray()).toEqual([])
  })
})
