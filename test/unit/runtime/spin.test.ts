import { setTimeout as sleep } from 'node:timers/promises'

import { afterEach, describe, expect, it } from 'vitest'

import { InvalidArgumentError } from '../../../runtime/errors.js'
import { DEFAULT_RUNTIME_OPTIONS, kMaxSpinUs, Runtime, type RuntimeOptions } from '../../../runtime/runtime.js'
import type { CounterMsg } from '../../fixtures/actors/counter.js'

const counter = new URL('../../fixtures/actors/counter.ts', import.meta.url)

let runtimes: Runtime[] = []
afterEach(async () => {
  await Promise.allSettled(runtimes.map((rt) => rt.close()))
  runtimes = []
})

async function echoActor(options: RuntimeOptions) {
  const rt = await Runtime.start({ closeTimeoutMs: 5_000, ...options })
  runtimes.push(rt)
  return rt.spawn<CounterMsg, unknown>(counter, { name: 'echo' })
}

describe('runtime spin window (spinUs)', () => {
  it('has a documented default and refuses values that are not integers in [0, 10000]', async () => {
    expect(DEFAULT_RUNTIME_OPTIONS.spinUs).toBe(50)
    expect(kMaxSpinUs).toBe(10_000)
    for (const bad of [-1, 1.5, 10_001, Number.NaN, '50', null]) {
      const started = Runtime.start({ spinUs: bad as number })
      await expect(started).rejects.toBeInstanceOf(InvalidArgumentError)
      await expect(started).rejects.toThrow(/options\.spinUs must be an integer between 0 and 10000/)
    }
  })

  for (const spinUs of [0, 50, kMaxSpinUs]) {
    it(`answers back-to-back asks (within the window) and asks after both sides slept, spinUs ${spinUs}`, async () => {
      const ref = await echoActor({ spinUs })
      for (let i = 0; i < 200; i++) expect(await ref.ask({ op: 'echo', value: i })).toBe(i)
      // Pauses past the window (the largest is 10 ms): both sides have gone to sleep before each ask.
      for (let i = 0; i < 5; i++) {
        await sleep(spinUs / 1000 + 15)
        expect(await ref.ask({ op: 'echo', value: `after ${i}` })).toBe(`after ${i}`)
      }
    })
  }

  it('answers asks in flight together, and tells in between, in order', async () => {
    const ref = await echoActor({ spinUs: 50 })
    const answers = Promise.all(Array.from({ length: 100 }, (_, i) => ref.ask({ op: 'echo', value: i })))
    for (let i = 0; i < 10; i++) expect(ref.tell({ op: 'inc' })).toBe(true)
    expect(await answers).toEqual(Array.from({ length: 100 }, (_, i) => i))
    expect(await ref.ask({ op: 'get' })).toBe(10)
  })

  it('an ask whose actor answers after the window (async receive) is still answered', async () => {
    const ref = await echoActor({ spinUs: 20 })
    await ref.ask({ op: 'sleep', ms: 30 })
    expect(await ref.ask({ op: 'echo', value: 'late' })).toBe('late')
  })
})
