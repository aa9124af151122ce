import { describe, expect, it } from 'vitest'

import { Doorbell, kMaxMisses, kProbeEvery } from '../../../../runtime/ring/doorbell.js'
import { kSleeping } from '../../../../runtime/ring/layout.js'
import { createRingBuffer, RingReader, RingWriter } from '../../../../runtime/ring/ring-buffer.js'

/** A ring whose writer rings `bell`, and a clock the test moves (ms). */
function setup() {
  const clock = { ms: 0 }
  const bell = new Doorbell(undefined, () => clock.ms)
  const ring = createRingBuffer(256)
  const writer = new RingWriter(ring, bell)
  const reader = new RingReader(ring)
  const sleeping = () => Atomics.load(new Int32Array(bell.buffer), kSleeping)
  const write = () => expect(writer.tryWrite(Uint8Array.of(1, 2, 3))).toBe(true)
  return { clock, bell, reader, sleeping, write }
}

describe('doorbell spin window', () => {
  it('sees a frame written while it spins, without a ring and without announcing sleep', async () => {
    const { clock, bell, reader, sleeping, write } = setup()
    const seen: number[] = []
    let polls = 0
    const outcome = await bell.wait(
      () => {
        seen.push(sleeping())
        clock.ms += 0.0001
        if (++polls === 3) write()
        return reader.hasFrames()
      },
      5_000,
      1_000,
    )
    expect(outcome).toBe('work')
    expect(polls).toBe(3)
    expect(seen).toEqual([0, 0, 0])
    expect(bell.rings).toBe(0)
    expect(sleeping()).toBe(0)
  })

  it('a frame written after the last poll of the window is seen by the re-check after the announce', async () => {
    const { clock, bell, reader, sleeping, write } = setup()
    const seen: number[] = []
    const outcome = await bell.wait(
      () => {
        const state = sleeping()
        seen.push(state)
        const found = reader.hasFrames()
        // The window ends at this poll: the producer writes after it looked (and sees no sleeper).
        if (seen.length === 2) {
          clock.ms = 1e9
          write()
        }
        clock.ms += 0.0001
        return found
      },
      5_000,
      50,
    )
    expect(seen).toEqual([0, 0, 1])
    expect(outcome).toBe('work')
    expect(bell.rings).toBe(0)
    expect(reader.hasFrames()).toBe(true)
  })

  it('a frame written after the re-check rings, and the wait returns at once (no lost wake-up)', async () => {
    const { clock, bell, reader, sleeping, write } = setup()
    const outcome = await bell.wait(
      () => {
        const found = reader.hasFrames()
        if (sleeping() === 1) write()
        else clock.ms = 1e9
        return found
      },
      5_000,
      50,
    )
    expect(outcome).toBe('woken')
    expect(bell.rings).toBe(1)
    expect(reader.hasFrames()).toBe(true)
    expect(sleeping()).toBe(0)
  })

  it('sleeps once the window passes with nothing to do, and a ring wakes it', async () => {
    const { clock, bell, reader, sleeping, write } = setup()
    let polls = 0
    const woke = bell.wait(
      () => {
        polls++
        clock.ms += 1
        return reader.hasFrames()
      },
      5_000,
      3_000,
    )
    while (sleeping() === 0) await new Promise((resolve) => setImmediate(resolve))
    const pollsBeforeSleep = polls
    write()
    expect(await woke).toBe('woken')
    expect(pollsBeforeSleep).toBeGreaterThanOrEqual(4)
    expect(bell.rings).toBe(1)
  })

  it('times out when nothing comes, and does not spin without a window', async () => {
    const { bell, reader } = setup()
    let polls = 0
    const outcome = await bell.wait(() => (polls++, reader.hasFrames()), 20)
    expect(outcome).toBe('timeout')
    expect(polls).toBe(1)
  })
})

describe('doorbell adaptive spin', () => {
  it(`parks at once after ${kMaxMisses} empty windows, probes one wait in ${kProbeEvery}, and resumes on a hit`, async () => {
    const { clock, bell, sleeping } = setup()
    /** One wait with a 1.5 ms window on a clock that moves 1 ms per poll; returns the polls made spinning. */
    const waitOnce = async (hitOnSpin: boolean) => {
      let polls = 0
      const outcome = await bell.wait(
        () => {
          if (sleeping() === 1) return true // the re-check after the announce: work is there
          polls++
          if (hitOnSpin) return true // found at once: spinning pays
          clock.ms += 1
          return false
        },
        5_000,
        1_500,
      )
      expect(outcome).toBe('work')
      return polls
    }
    const polls: number[] = []
    for (let i = 0; i < kMaxMisses + kProbeEvery; i++) polls.push(await waitOnce(false))
    expect(polls).toEqual([...Array<number>(kMaxMisses).fill(2), ...Array<number>(kProbeEvery - 1).fill(0), 2])
    for (let i = 0; i < kProbeEvery - 1; i++) expect(await waitOnce(true)).toBe(0)
    expect(await waitOnce(true)).toBe(1) // the probe finds work: spinning pays again
    expect(await waitOnce(false)).toBe(2)
  })
})

describe('doorbell nudge', () => {
  it('ends a sleep from the same thread, releases its wait, and the next sleep still wakes on a ring', async () => {
    const { bell, reader, sleeping, write } = setup()
    bell.nudge() // not sleeping: nothing to end
    const first = bell.wait(() => reader.hasFrames())
    expect(sleeping()).toBe(1)
    bell.nudge()
    expect(await first).toBe('woken')
    expect(bell.rings).toBe(0)
    const second = bell.wait(() => reader.hasFrames())
    expect(sleeping()).toBe(1)
    write()
    expect(await second).toBe('woken')
    expect(bell.rings).toBe(1)
    expect(reader.hasFrames()).toBe(true)
  })
})
