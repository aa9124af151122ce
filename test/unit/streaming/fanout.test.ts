import { describe, expect, it } from 'vitest'

import { HeldEvents } from '../../../actors/streaming/held-events.js'
import { Fanout } from '../../../actors/streaming/fanout.js'
import { compileTopicFilter } from '../../../actors/streaming/topic-filter.js'

describe('Fanout', () => {
  it('gives every subscription every item; space is bounded by the slowest', async () => {
    const fanout = new Fanout<number>(4)
    const a = fanout.subscribe()
    const b = fanout.subscribe()
    fanout.push([1, 2, 3])
    expect(fanout.space).toBe(1)
    expect((await a.next()).value).toBe(1)
    expect((await a.next()).value).toBe(2)
    expect(fanout.space).toBe(1) // b has not read anything
    expect((await b.next()).value).toBe(1)
    expect(fanout.space).toBe(2)
    let released = false
    fanout.push([4, 5])
    const waiting = fanout.whenSpace().then(() => (released = true))
    await Promise.resolve()
    expect(released).toBe(false)
    expect((await b.next()).value).toBe(2)
    await waiting
    expect(released).toBe(true)
  })

  it('keeps what arrived before the first subscription for it; a late subscription starts at the slowest cursor', async () => {
    const fanout = new Fanout<string>(10)
    fanout.push(['early'])
    const first = fanout.subscribe()
    expect((await first.next()).value).toBe('early')
    fanout.push(['x'])
    const late = fanout.subscribe()
    expect((await late.next()).value).toBe('x')
  })

  it('a subscription that leaves (break) frees its hold; end() finishes waiting iterators', async () => {
    const fanout = new Fanout<number>(2)
    const slow = fanout.subscribe()
    const fast = fanout.subscribe()
    fanout.push([1, 2])
    await fast.next()
    await fast.next()
    expect(fanout.space).toBe(0)
    await slow.return()
    expect(fanout.space).toBe(2)
    const pending = fast.next()
    fanout.end()
    expect(await pending).toEqual({ done: true, value: undefined })
    expect(await fanout.subscribe().next()).toEqual({ done: true, value: undefined })
  })
})

describe('HeldEvents', () => {
  it('keeps buffered events always, and events in hand only when asked', () => {
    const held = new HeldEvents()
    held.add('k', '1-0')
    held.add('k', '2-0')
    held.add('j', '3-0')
    held.consumed(1)
    expect(Object.fromEntries(held.toKeep(false))).toEqual({ k: ['2-0'], j: ['3-0'] })
    expect(Object.fromEntries(held.toKeep(true))).toEqual({ k: ['1-0', '2-0'], j: ['3-0'] })
    held.delete('k', '2-0')
    held.retain('j', ['3-0'], [])
    expect(held.size).toBe(1)
    held.add('k', '1-0') // claimed again: back in the buffer
    expect(Object.fromEntries(held.toKeep(false))).toEqual({ k: ['1-0'] })
  })
  it('takes acks in any order, compacts, and lists an event claimed again once', () => {
    const held = new HeldEvents()
    const ids = Array.from({ length: 5_000 }, (_, i) => `${i + 1}-0`)
    for (const id of ids) held.add('k', id)
    held.consumed(4_000)
    // In order for the first half, then from the end backwards.
    for (const id of ids.slice(0, 2_500)) held.delete('k', id)
    for (const id of ids.slice(2_500).reverse().slice(0, 1_000)) held.delete('k', id)
    held.delete('k', '1-0') // twice: harmless
    held.delete('other', '2600-0') // not held: ignored
    expect(held.size).toBe(1_500)
    expect(held.toKeep(false).get('k')).toBeUndefined() // 4,000 consumed: what is left is in hand
    expect(held.toKeep(true).get('k')).toEqual(ids.slice(2_500, 4_000))
    held.add('k', '2600-0') // claimed again
    expect(held.toKeep(false).get('k')).toEqual(['2600-0'])
    expect(held.toKeep(true).get('k')).toHaveLength(1_500)
    held.delete('k', '2600-0')
    held.delete('k', '2600-0')
    expect(held.size).toBe(1_499)
    held.retain('k', ['2501-0', '2502-0'], ['2502-0'])
    expect(held.size).toBe(1_498)
    expect(held.toKeep(true).get('k')?.[0]).toBe('2502-0')
    held.clear()
    expect(held.size).toBe(0)
  })
})

describe('topic filters', () => {
  it('exact topic wins over the pattern; patterns search; no topic never matches', () => {
    const exact = compileTopicFilter('a', 'b')
    expect([exact?.('a'), exact?.('b'), exact?.(undefined)]).toEqual([true, false, false])
    const pattern = compileTopicFilter(undefined, 'my-*')
    expect([pattern?.('my-topic'), pattern?.('xmy'), pattern?.(''), pattern?.(undefined)]).toEqual([
      true,
      true,
      false,
      false,
    ])
    const global = compileTopicFilter(undefined, /a/g)
    expect([global?.('a'), global?.('a'), global?.('a')]).toEqual([true, true, true])
    expect(compileTopicFilter(undefined, undefined)).toBeUndefined()
    expect(() => compileTopicFilter(undefined, '(')).toThrow(/topic pattern must be a valid regex/)
  })
})
