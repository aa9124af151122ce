/** `pulse loadgen`'s flags as a plan, and its histograms and stamps: what a bad flag or a round reads as. */
import { describe, expect, it } from 'vitest'

import { latencyHistogram, latencyMs, recordMs } from '../../../cli/loadgen/histogram.js'
import { peersOf, planOf, workloadsOf } from '../../../cli/loadgen/plan.js'
import { stampJson, stampOf } from '../../../cli/loadgen/stamp.js'

const bulk = { jobs: '20000', concurrency: '50', rounds: '1' }
/** Matches a refusal naming `option` (an asymmetric matcher, typed for `toThrow`). */
const invalid = (option: string): Error =>
  expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG', data: { option } }) as Error

describe('the plan', () => {
  it('is bulk by default over every workload, with a long drain', () => {
    expect(planOf([], bulk)).toEqual({
      workloads: ['jobs', 'sinks', 'pool', 'bus'],
      jobs: 20_000,
      concurrency: 50,
      rate: undefined,
      durationMs: 30_000,
      rounds: 1,
      drainTimeoutMs: 120_000,
    })
  })

  it('is steady with --rate, for --duration, with a short drain', () => {
    expect(planOf(['bus'], { ...bulk, rate: '500', duration: '2s' })).toMatchObject({
      workloads: ['bus'],
      rate: 500,
      durationMs: 2_000,
      drainTimeoutMs: 30_000,
    })
  })

  it('keeps the canonical order of workloads and takes each once', () => {
    expect(workloadsOf(['bus', 'jobs', 'bus'])).toEqual(['jobs', 'bus'])
    expect(() => workloadsOf(['jobs', 'queue'])).toThrow(
      'unknown workload "queue"; the workloads are jobs, sinks, pool, bus',
    )
  })

  it.each([
    [{ jobs: '0' }, '--jobs'],
    [{ jobs: '1.5' }, '--jobs'],
    [{ jobs: '9007199254740993' }, '--jobs'],
    [{ concurrency: '-1' }, '--concurrency'],
    [{ rounds: 'two' }, '--rounds'],
    [{ rate: '0' }, '--rate'],
    [{ duration: '5s' }, '--duration'], // without --rate
    [{ rate: '10', duration: '0ms' }, '--duration'],
    [{ rate: '10', duration: 'forever' }, '--duration'],
  ])('refuses %j, naming the flag', (flags, option) => {
    expect(() => planOf([], { ...bulk, ...flags })).toThrow(invalid(option))
  })

  it('takes peers once each, trimmed, and refuses unknown or empty lists', () => {
    expect(peersOf(undefined)).toEqual([])
    expect(peersOf(' bullmq , pg-boss,bullmq')).toEqual(['bullmq', 'pg-boss'])
    expect(() => peersOf('bullmq,sidekiq')).toThrow(/unknown peer "sidekiq" in --peers/)
    expect(() => peersOf(' , ')).toThrow('--peers needs at least one of bullmq, pg-boss, graphile-worker')
  })
})

describe('latency histograms', () => {
  it('record milliseconds and read percentiles back in ms to the µs, capped at the maximum', () => {
    const h = latencyHistogram()
    for (let i = 1; i <= 1_000; i++) recordMs(h, i / 10) // 0.1 … 100 ms
    const latency = latencyMs(h)
    expect(latency.p50).toBeCloseTo(50, 0)
    expect(latency.p99).toBeCloseTo(99, 0)
    expect(latency.max).toBeCloseTo(100, 0)
    expect(latency.p999).toBeLessThanOrEqual(latency.max)
  })

  it('clamp what is out of range instead of throwing: below 1 ns and past 60 s', () => {
    const h = latencyHistogram()
    recordMs(h, -5)
    recordMs(h, 0)
    recordMs(h, 3_600_000)
    expect(h.totalCount).toBe(3)
    expect(latencyMs(h).max).toBeCloseTo(60_000, -1)
  })
})

describe('stamps', () => {
  it('travel as {"t":…} and are read from objects, JSON text and bytes; anything else has none', () => {
    expect(stampJson(12.5)).toBe('{"t":12.5}')
    expect(stampOf({ t: 3 })).toBe(3)
    expect(stampOf('{"t":4}')).toBe(4)
    expect(stampOf(new TextEncoder().encode('{"t":5}'))).toBe(5)
    for (const value of [null, undefined, '{"t":"6"}', 'not json', { x: 1 }, 7]) expect(stampOf(value)).toBeUndefined()
  })
})
