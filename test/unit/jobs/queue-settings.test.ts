/**
 * The settings a JobQueue and a JobWorker share (queue-settings.ts): one set of defaults and one set
 * of checks, which both options resolvers go through.
 */
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'

import { DEFAULT_JOB_QUEUE_OPTIONS, resolveJobQueueOptions } from '../../../actors/jobs/options.js'
import {
  DEFAULT_QUEUE_SETTINGS,
  QUEUE_SETTING_KEYS,
  resolveQueueSettings,
} from '../../../actors/jobs/queue-settings.js'
import { DEFAULT_JOB_WORKER_OPTIONS, resolveJobWorkerOptions } from '../../../actors/jobs/worker-options.js'
import { InvalidArgumentError } from '../../../runtime/errors.js'

// Never connects: the resolvers only look at its shape.
const pool = new pg.Pool({ host: '127.0.0.1', port: 1 })
afterAll(() => pool.end())

/** The error a resolver throws for `options`, or undefined. */
function errorOf(resolve: () => unknown): InvalidArgumentError | undefined {
  try {
    resolve()
    return undefined
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError)
    return error as InvalidArgumentError
  }
}

describe('queue settings', () => {
  it('are the defaults of both the queue and the worker', () => {
    for (const key of QUEUE_SETTING_KEYS) {
      expect(DEFAULT_JOB_QUEUE_OPTIONS[key]).toBe(DEFAULT_QUEUE_SETTINGS[key])
      expect(DEFAULT_JOB_WORKER_OPTIONS[key]).toBe(DEFAULT_QUEUE_SETTINGS[key])
    }
    const queue = resolveJobQueueOptions({ pg: pool })
    const worker = resolveJobWorkerOptions({ pool }).options
    for (const key of QUEUE_SETTING_KEYS) {
      expect(queue[key]).toBe(DEFAULT_QUEUE_SETTINGS[key])
      expect(worker[key]).toBe(DEFAULT_QUEUE_SETTINGS[key])
    }
  })

  it('resolve given values alike on both sides', () => {
    const backoff = (attempt: number) => attempt * 10
    const given = { schema: 'jobs_a', leaseTtlMs: 1_000, pollIntervalMs: 50, backoff, claimBatchMax: 20 }
    expect(resolveQueueSettings(given)).toEqual(given)
    const queue = resolveJobQueueOptions({ pg: pool, ...given })
    const worker = resolveJobWorkerOptions({ pool, ...given }).options
    for (const key of QUEUE_SETTING_KEYS) {
      expect(queue[key]).toBe(given[key])
      expect(worker[key]).toBe(given[key])
    }
  })

  it.each([
    ['schema', 'pg_catalog'],
    ['schema', 'Upper'],
    ['leaseTtlMs', 29],
    ['pollIntervalMs', 0],
    ['backoff', 'soon'],
    ['claimBatchMax', 0],
    ['claimBatchMax', 10_001],
    ['claimBatchMax', 1.5],
  ])('refuse %s = %j with the same error on both sides', (key, value) => {
    const queue = errorOf(() => resolveJobQueueOptions({ pg: pool, [key]: value }))
    const worker = errorOf(() => resolveJobWorkerOptions({ pool, [key]: value }))
    expect(queue?.message).toBeDefined()
    expect(worker?.message).toBe(queue?.message)
    expect(worker?.data).toEqual({ option: `options.${key}` })
  })
})
