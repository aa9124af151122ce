/** The writers waiting in `setAndWait` for their revision: released by a later revision or a covering reload. */
import { describe, expect, it } from 'vitest'

import { RevisionWaiters } from '../../../actors/rmap/revision-waiters.js'

/** Whether `promise` settled by now (after the microtasks already queued). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false
  void promise.then(
    () => (done = true),
    () => (done = true),
  )
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

describe('revision waiters', () => {
  it('release every waiter at or below the applied revision, and only those', async () => {
    const waiters = new RevisionWaiters()
    const three = waiters.wait(3)
    const five = waiters.wait(5)
    const seven = waiters.wait(7)
    waiters.release(2)
    expect(waiters.size).toBe(3)
    waiters.release(5)
    expect(await settled(three)).toBe(true)
    expect(await settled(five)).toBe(true)
    expect(await settled(seven)).toBe(false)
    expect(waiters.size).toBe(1)
    waiters.release(100) // a later overwrite by someone else releases it too
    expect(await settled(seven)).toBe(true)
    expect(waiters.size).toBe(0)
  })

  it('release by sequence the waiters a reload covers, whatever their revision (a regression)', async () => {
    const waiters = new RevisionWaiters()
    const before = waiters.wait(1_000)
    const infinite = waiters.wait(Number.POSITIVE_INFINITY)
    const covered = waiters.lastSeq
    const after = waiters.wait(1)
    waiters.releaseUpToSeq(covered)
    expect(await settled(before)).toBe(true)
    expect(await settled(infinite)).toBe(true)
    expect(await settled(after)).toBe(false)
    waiters.release(1)
    expect(await settled(after)).toBe(true)
  })

  it('an Infinity waiter is never released by a revision', async () => {
    const waiters = new RevisionWaiters()
    const waiting = waiters.wait(Number.POSITIVE_INFINITY)
    waiters.release(Number.MAX_SAFE_INTEGER)
    expect(await settled(waiting)).toBe(false)
    waiters.releaseUpToSeq(waiters.lastSeq)
    await waiting
  })

  it('an aborted wait rejects with the reason and leaves the set; the others stay', async () => {
    const waiters = new RevisionWaiters()
    const controller = new AbortController()
    const aborted = waiters.wait(4, controller.signal)
    const other = waiters.wait(4)
    controller.abort(new Error('caller gave up'))
    await expect(aborted).rejects.toThrow('caller gave up')
    expect(waiters.size).toBe(1)
    waiters.release(4)
    await other
    await expect(waiters.wait(1, AbortSignal.abort(new Error('already')))).rejects.toThrow('already')
  })

  it('rejectAll rejects every waiter and every later wait with its error', async () => {
    const waiters = new RevisionWaiters()
    const a = waiters.wait(1)
    const b = waiters.wait(2)
    const closed = new Error('map closed')
    waiters.rejectAll(closed)
    await expect(a).rejects.toBe(closed)
    await expect(b).rejects.toBe(closed)
    await expect(waiters.wait(0)).rejects.toBe(closed)
    expect(waiters.size).toBe(0)
  })
})
