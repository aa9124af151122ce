import { describe, expect, it } from 'vitest'

import { activeWorkers, allJobKeys, deadWorkers, ownersOf } from '../../../actors/pool/membership.js'

const now = 1_700_000_000_000_000_000n
const ms = (n: number) => String(now - BigInt(n) * 1_000_000n)

describe('activeWorkers', () => {
  it('keeps registered workers with a fresh keep-alive and no fresh cleanup lock, by creation time then id', () => {
    const workers = { '=rev': '4', W3: '30', W1: '10', W2: '10', W4: '-', W5: 'garbage', W6: '5', W7: '1' }
    const keepAlives = { W1: ms(10), W2: ms(199), W3: ms(0), W4: ms(0), W5: ms(0), W6: ms(500), W7: ms(0) }
    const cleanup = { W7: ms(50) }
    expect(activeWorkers(workers, keepAlives, cleanup, now, 200).map((w) => w.id)).toEqual(['W1', 'W2', 'W3'])
    // A stale cleanup lock does not exclude; a Map works as well as a record.
    const stale = new Map([['W7', ms(400)]])
    expect(
      activeWorkers(new Map(Object.entries(workers)), new Map(Object.entries(keepAlives)), stale, now, 200).map(
        (w) => w.id,
      ),
    ).toEqual(['W7', 'W1', 'W2', 'W3'])
  })
})

describe('ownersOf, allJobKeys, deadWorkers', () => {
  it('reads the job lists (JSON, legacy comma lists) and finds owners among the given workers', () => {
    const jobs = { '=kind': 'set', A: '["k1","k2"]', B: 'k2,k3', C: '{}' }
    expect(ownersOf(jobs, 'k2', new Set(['A', 'B']))).toEqual(['A', 'B'])
    expect(ownersOf(jobs, 'k2', new Set(['B', 'C']))).toEqual(['B'])
    expect(allJobKeys(jobs).sort()).toEqual(['k1', 'k2', 'k3'])
  })

  it('dead workers: in the workers or jobs map, keep-alive stale or missing, no fresh lock', () => {
    const workers = { A: '1', B: '2', C: '-' }
    const jobs = { D: '["x"]', A: '["y"]' }
    const keepAlives = { A: ms(0), B: ms(1_000) }
    const cleanup = { B: ms(10) }
    expect(deadWorkers(workers, jobs, keepAlives, cleanup, now, 200).sort()).toEqual(['C', 'D'])
  })
})
