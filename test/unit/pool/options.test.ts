import { describe, expect, it } from 'vitest'

import {
  DEFAULT_POOL_OPTIONS,
  kPendingEventTtlMs,
  poolTimings,
  resolvePoolOptions,
} from '../../../actors/pool/options.js'
import { InvalidArgumentError } from '../../../runtime/errors.js'
import { SILENT_LOGGER } from '../../../runtime/logger.js'

function message(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError)
    return (error as Error).message
  }
  throw new Error('expected an InvalidArgumentError')
}

describe('pool options', () => {
  it('default to the values of goa.design/pulse v1.6.5', () => {
    expect(DEFAULT_POOL_OPTIONS).toEqual({
      workerTtlMs: 30_000,
      workerShutdownTtlMs: 120_000,
      jobSinkBlockMs: 5_000,
      maxQueuedJobs: 1_000,
      ackGracePeriodMs: 20_000,
      clientOnly: false,
      logger: SILENT_LOGGER,
    })
    expect(Object.isFrozen(DEFAULT_POOL_OPTIONS)).toBe(true)
    expect(resolvePoolOptions(undefined)).toBe(DEFAULT_POOL_OPTIONS)
    expect(kPendingEventTtlMs).toBe(120_000)
  })

  it('merge what is given, leave undefined fields at their default, freeze', () => {
    const resolved = resolvePoolOptions({ workerTtlMs: 1_000, maxQueuedJobs: undefined, clientOnly: true })
    expect(resolved).toMatchObject({
      workerTtlMs: 1_000,
      maxQueuedJobs: 1_000,
      clientOnly: true,
      ackGracePeriodMs: 20_000,
    })
    expect(Object.isFrozen(resolved)).toBe(true)
  })

  it('name the option that is wrong', () => {
    expect(message(() => resolvePoolOptions({ workerTtlMs: 1 }))).toBe(
      'options.workerTtlMs must be an integer number of milliseconds between 2 and 2147483647 (got 1)',
    )
    expect(message(() => resolvePoolOptions({ jobSinkBlockMs: 0 }))).toMatch(/^options\.jobSinkBlockMs must be/)
    expect(message(() => resolvePoolOptions({ maxQueuedJobs: 0 }))).toMatch(
      /^options\.maxQueuedJobs must be an integer between 1/,
    )
    expect(message(() => resolvePoolOptions({ ackGracePeriodMs: 2_000_000_000 }))).toMatch(
      /^options\.ackGracePeriodMs must be .* between 1 and 1073741823/,
    )
    expect(message(() => resolvePoolOptions({ workerShutdownTtlMs: -5 }))).toMatch(/^options\.workerShutdownTtlMs/)
    expect(message(() => resolvePoolOptions({ clientOnly: 'yes' as unknown as boolean }))).toBe(
      'options.clientOnly must be a boolean (got "yes")',
    )
    expect(message(() => resolvePoolOptions({ logger: {} as never }))).toMatch(/^options\.logger must have/)
    expect(message(() => resolvePoolOptions({ keyLayout: 'sharded' as never }))).toBe(
      'options.keyLayout must be one of "compat", "cluster" (got "sharded")',
    )
    expect(message(() => resolvePoolOptions({ workerTTL: 5 } as never))).toMatch(
      /^options\.workerTTL is not a known option/,
    )
  })
})

describe('pool timings', () => {
  it('derive the protocol periods from the options', () => {
    expect(poolTimings(DEFAULT_POOL_OPTIONS)).toEqual({
      keepAliveEveryMs: 15_000,
      sweepEveryMs: 30_000,
      staleAfterMs: 30_000,
      workerReadBlockMs: 15_000,
      dispatchTimeoutMs: 40_000,
      pendingSweepEveryMs: 20_000,
      orphanGraceMs: 60_000,
    })
    expect(poolTimings(resolvePoolOptions({ workerTtlMs: 3, ackGracePeriodMs: 100 }))).toMatchObject({
      keepAliveEveryMs: 1,
      orphanGraceMs: 100,
    })
  })
})
