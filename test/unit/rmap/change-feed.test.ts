/** `map.subscribe()`'s feed: at most one pending notification, the strongest kind wins, and how it ends. */
import { describe, expect, it } from 'vitest'

import { ChangeFeed, strongerKind } from '../../../actors/rmap/change-feed.js'

function feed(options: ConstructorParameters<typeof ChangeFeed>[1] = {}): { feed: ChangeFeed; unregistered: number[] } {
  const unregistered: number[] = []
  const f = new ChangeFeed(() => unregistered.push(1), options)
  return { feed: f, unregistered }
}

describe('change kinds', () => {
  it('order reset > delete > change, undefined below all', () => {
    expect(strongerKind('change', 'delete')).toBe('delete')
    expect(strongerKind('reset', 'delete')).toBe('reset')
    expect(strongerKind('delete', 'change')).toBe('delete')
    expect(strongerKind(undefined, 'change')).toBe('change')
    expect(strongerKind('change', undefined)).toBe('change')
    expect(strongerKind(undefined, undefined)).toBeUndefined()
  })
})

describe('a change feed', () => {
  it('coalesces any number of notifications into one, keeping the strongest', async () => {
    const { feed: f } = feed()
    for (let i = 0; i < 10_000; i++) f.notify('change')
    f.notify('delete')
    f.notify('change')
    expect(f.queued).toBe(1)
    expect(await f.next()).toEqual({ done: false, value: 'delete' })
    expect(f.queued).toBe(0)
  })

  it('hands a notification straight to a reader that waits, in the order readers came', async () => {
    const { feed: f } = feed()
    const first = f.next()
    const second = f.next()
    f.notify('change')
    f.notify('reset')
    expect(await first).toEqual({ done: false, value: 'change' })
    expect(await second).toEqual({ done: false, value: 'reset' })
    expect(f.queued).toBe(0)
  })

  it('delivers what is pending after end(), then ends; waiting readers end at once; unregisters once', async () => {
    const { feed: f, unregistered } = feed()
    f.notify('change')
    f.end()
    f.end()
    expect(await f.next()).toEqual({ done: false, value: 'change' })
    expect(await f.next()).toEqual({ done: true, value: undefined })
    f.notify('reset') // after the end: dropped
    expect(f.queued).toBe(0)
    expect(unregistered).toHaveLength(1)

    const { feed: g } = feed()
    const waiting = g.next()
    g.end()
    expect(await waiting).toEqual({ done: true, value: undefined })
  })

  it('return() (a `break`) drops what is pending and ends', async () => {
    const { feed: f, unregistered } = feed()
    f.notify('reset')
    for await (const kind of f) {
      expect(kind).toBe('reset')
      break
    }
    expect(f.done).toBe(true)
    expect(f.pending).toBeUndefined()
    expect(await f.next()).toEqual({ done: true, value: undefined })
    expect(unregistered).toHaveLength(1)
  })

  it('rejects the waiting reader with the signal’s reason on abort, then ends', async () => {
    const controller = new AbortController()
    const { feed: f, unregistered } = feed({ signal: controller.signal })
    const waiting = f.next()
    const reason = new Error('stop')
    controller.abort(reason)
    await expect(waiting).rejects.toBe(reason)
    expect(await f.next()).toEqual({ done: true, value: undefined })
    expect(unregistered).toHaveLength(1)
  })

  it('rejects the next read once when aborted with no reader waiting, dropping what was pending', async () => {
    const controller = new AbortController()
    const { feed: f } = feed({ signal: controller.signal })
    f.notify('change')
    controller.abort(new Error('gone'))
    await expect(f.next()).rejects.toThrow('gone')
    expect(await f.next()).toEqual({ done: true, value: undefined })
  })

  it('refuses an already aborted signal at once, without registering', () => {
    const reason = new Error('too late')
    const unregistered: number[] = []
    expect(() => new ChangeFeed(() => unregistered.push(1), { signal: AbortSignal.abort(reason) })).toThrow(reason)
    expect(unregistered).toEqual([])
  })
})
