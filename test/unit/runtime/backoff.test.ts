import { describe, expect, it } from 'vitest'

import { backoffMs } from '../../../runtime/backoff.js'

describe('backoffMs', () => {
  it('doubles from the base per attempt, within the cap and the doublings bound', () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(n, { baseMs: 100 }))).toEqual([100, 200, 400, 800])
    expect(backoffMs(10, { baseMs: 100, maxMs: 1_000 })).toBe(1_000)
    expect(backoffMs(10, { baseMs: 100, maxDoublings: 2 })).toBe(400)
    expect(backoffMs(0, { baseMs: 100 })).toBe(100)
  })

  it('with jitter, draws from the upper half of the ceiling', () => {
    const draws = Array.from({ length: 200 }, () => backoffMs(4, { baseMs: 100, jitter: true }))
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(400)
    expect(Math.max(...draws)).toBeLessThanOrEqual(800)
    expect(new Set(draws).size).toBeGreaterThan(1)
  })
})
