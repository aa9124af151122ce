import { describe, expect, it } from 'vitest'

import { checkPrefetch, ClaimWindow } from '../../../actors/jobs/claim-window.js'

/** Settles `n` results of `runMs` each and returns the credits given back in total. */
function settle(window: ClaimWindow, n: number, runMs: number | undefined): number {
  let credits = 0
  for (let i = 0; i < n; i++) credits += window.settled(runMs)
  return credits
}

describe('ClaimWindow', () => {
  it('keeps a fixed prefetch: one credit back per result, never a resize', () => {
    const window = new ClaimWindow(10, 5, 500)
    expect(window.size).toBe(15)
    expect(settle(window, 100, 0.01)).toBe(100)
    expect(window.takeChange()).toBeUndefined()
  })

  it("'auto' starts with no prefetch and grows to the batch bound for short jobs", () => {
    const window = new ClaimWindow(50, 'auto', 500)
    expect(window.size).toBe(50)
    const credits = settle(window, 32, 0.05)
    expect(window.size).toBe(500)
    expect(credits).toBe(32 + 450) // the growth is granted at once
    expect(window.takeChange()).toBe(500)
    expect(window.takeChange()).toBeUndefined()
  })

  it("'auto' holds about 100 ms of work: none for long jobs, some for medium ones", () => {
    const long = new ClaimWindow(4, 'auto', 500)
    settle(long, 64, 1_000)
    expect(long.prefetch).toBe(0)
    const medium = new ClaimWindow(4, 'auto', 500)
    settle(medium, 64, 20)
    expect(medium.prefetch).toBe(20) // 4 slots × 100 ms / 20 ms
  })

  it('shrinks by withholding credits until the difference is paid, so the worker never holds more than the window', () => {
    const window = new ClaimWindow(10, 'auto', 500)
    settle(window, 32, 0.01)
    expect(window.size).toBe(500)
    // Jobs turn slow: the mean moves up over a few retunes; credits stop coming back meanwhile.
    let given = 0
    for (let round = 0; round < 20; round++) given += settle(window, 32, 500)
    expect(window.prefetch).toBe(2) // 10 × 100 / ~500
    // 640 results settled, 488 credits owed for the shrink: 152 came back.
    expect(given).toBe(640 - (500 - window.size))
  })

  it('a restart of the dispatcher forgives the debt: credits are the window less what is held', () => {
    const window = new ClaimWindow(10, 'auto', 500)
    settle(window, 32, 0.01)
    settle(window, 64, 1_000)
    expect(window.restart(3)).toBe(window.size - 3)
    expect(window.settled(undefined)).toBe(1)
  })

  it("checks the option: 'auto' or an integer from 0", () => {
    expect(checkPrefetch('auto', 'options.prefetch')).toBe('auto')
    expect(checkPrefetch(3, 'options.prefetch')).toBe(3)
    expect(() => checkPrefetch(-1, 'options.prefetch')).toThrow(/options.prefetch/)
    expect(() => checkPrefetch('lots', 'options.prefetch')).toThrow(/'auto' or an integer/)
  })
})
