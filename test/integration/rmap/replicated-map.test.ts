/**
 * ReplicatedMap against the run's redis-server: join and replication, setAndWait, the list helpers,
 * inc and the test-and-* writes, validation, close and TTLs.
 */
import type { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

import { ClosedError, PulseError, ReplicatedMap } from '../../../actors/rmap/index.js'
import { createRedis } from '../../../transports/redis/index.js'
import { redisUrl } from '../../helpers/servers.js'
import { dropMap, hashContent, mapName, plainClient, runConcurrently, until } from './helpers.js'

let raw: Redis
const names: string[] = []
const open: ReplicatedMap[] = []

function name(label?: string): string {
  const n = mapName(label)
  names.push(n)
  return n
}

async function join(mapNameValue: string, options?: Parameters<typeof ReplicatedMap.join>[2]): Promise<ReplicatedMap> {
  const map = await ReplicatedMap.join(redisUrl(), mapNameValue, options)
  open.push(map)
  return map
}

beforeAll(async () => {
  raw = plainClient(redisUrl())
  await raw.ping()
})

afterEach(async () => {
  await Promise.all(open.splice(0).map((m) => m.close()))
  await Promise.all(names.splice(0).map((n) => dropMap(raw, n)))
})

afterAll(async () => {
  await raw.quit()
})

describe('join and replication', () => {
  it('sees the full current content, and a set by A reaches B with a change notification', async () => {
    const n = name()
    await raw.hset(`map:${n}:content`, 'a', '1', 'b', '', '=rev', '7', '=kind', 'set')
    const a = await join(n)
    expect(a.toObject()).toEqual({ a: '1', b: '' })
    expect(a.get('b')).toBe('')
    expect(a.get('missing')).toBeUndefined()
    expect(a.revision).toBe(7)
    expect(a.size).toBe(2)
    expect(a.keys().sort()).toEqual(['a', 'b'])

    const b = await join(n)
    const feed = b.subscribe()
    expect(await a.set('a', '2')).toBe('1')
    expect(await feed.next()).toEqual({ done: false, value: 'change' })
    expect(b.get('a')).toBe('2')
    expect(await a.set('c', 'x')).toBeUndefined()
    await until(b, () => b.get('c') === 'x')
    await feed.return()
  })

  it('notifies delete and reset, destroy as reset, and ends subscriptions on close', async () => {
    const n = name()
    const a = await join(n)
    await a.setAndWait('k', 'v')
    const feed = a.subscribe()
    await a.delete('k')
    expect((await feed.next()).value).toBe('delete')
    await a.set('k', 'v')
    expect((await feed.next()).value).toBe('change')
    await a.reset()
    expect((await feed.next()).value).toBe('reset')
    await a.set('k', 'v')
    expect((await feed.next()).value).toBe('change')
    await a.destroy()
    expect((await feed.next()).value).toBe('reset')
    expect(a.size).toBe(0)
    await a.close()
    expect(await feed.next()).toEqual({ done: true, value: undefined })
  })

  it('ends a for-await loop on break and on the signal', async () => {
    const a = await join(name())
    const feed = a.subscribe()
    const writes = a.set('x', '1')
    for await (const kind of feed) {
      expect(kind).toBe('change')
      break
    }
    await writes
    expect(feed.done).toBe(true)

    const controller = new AbortController()
    const aborted = a.subscribe({ signal: controller.signal })
    const pending = aborted.next()
    controller.abort(new Error('stop'))
    await expect(pending).rejects.toThrow('stop')
    expect(await aborted.next()).toEqual({ done: true, value: undefined })
  })
})

describe('setAndWait', () => {
  it('returns once the local copy holds the write, under concurrent writers on both sides', async () => {
    const n = name()
    const a = await join(n)
    const b = await join(n)
    expect(await a.setAndWait('k', 'first')).toBeUndefined()
    expect(a.get('k')).toBe('first')
    const writes: Promise<unknown>[] = []
    for (let i = 0; i < 20; i++) {
      writes.push(b.set('k', `b${i}`), b.set(`b${i}`, 'x'))
      writes.push(
        a.setAndWait(`a${i}`, `v${i}`).then(() => {
          // The replica holds this revision or a later one: this key is written once.
          expect(a.get(`a${i}`)).toBe(`v${i}`)
        }),
      )
    }
    await Promise.all(writes)
    expect(await a.setAndWait('k', 'last')).toMatch(/^(first|b\d+)$/)
    expect(a.get('k')).toBe('last')
  })

  it('rejects with the signal reason when aborted', async () => {
    const a = await join(name())
    const controller = new AbortController()
    controller.abort()
    await expect(a.setAndWait('k', 'v', { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' })
    const later = new AbortController()
    const reason = new Error('cancelled')
    const pending = a.setAndWait('k', 'v', { signal: later.signal })
    later.abort(reason)
    await expect(pending).rejects.toBe(reason)
  })

  it('rejects a wait that close() cuts short with ClosedError (the write itself commits)', async () => {
    const n = name()
    const pulse = createRedis(redisUrl()) // not the map's: close() leaves it open, so the write goes through
    try {
      const a = await ReplicatedMap.join(pulse, n)
      const pending = a.setAndWait('k', 'v').catch((e: unknown) => e)
      await a.close()
      expect(await pending).toBeInstanceOf(ClosedError)
      expect(await raw.hget(`map:${n}:content`, 'k')).toBe('v')
    } finally {
      await pulse.close()
    }
  })
})

describe('list helpers', () => {
  it('stores cjson arrays, dedups in order, and removes with the fixed shapes', async () => {
    const n = name()
    const a = await join(n)
    expect(await a.appendValues('l', 'ca/santa-barbara', 'b')).toEqual(['ca/santa-barbara', 'b'])
    expect(await raw.hget(`map:${n}:content`, 'l')).toBe('["ca\\/santa-barbara","b"]')
    expect(await a.appendValues('l')).toEqual(['ca/santa-barbara', 'b'])
    expect(await a.appendUniqueValues('u', 'a', 'b', 'c')).toEqual(['a', 'b', 'c'])
    expect(await a.appendUniqueValues('u', 'b', 'd', 'a', 'e', 'd')).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(await raw.hget(`map:${n}:content`, 'u')).toBe('["a","b","c","d","e"]')
    await until(a, () => a.getValues('u')?.length === 5)
    expect(a.getValues('u')).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(a.getValues('l')).toEqual(['ca/santa-barbara', 'b'])

    expect(await a.removeValues('u', 'b', 'zz')).toEqual({ remaining: ['a', 'c', 'd', 'e'], removed: true })
    expect(await a.removeValues('u', 'zz')).toEqual({ remaining: ['a', 'c', 'd', 'e'], removed: false })
    expect(await a.removeValues('u', 'a', 'c', 'd', 'e')).toEqual({ remaining: undefined, removed: true })
    expect(await raw.hexists(`map:${n}:content`, 'u')).toBe(0)
    expect(await a.removeValues('missing', 'a')).toEqual({ remaining: undefined, removed: false })
    await a.appendValues('dup', 'x', 'y', 'x')
    expect(await a.removeValues('dup', 'x')).toEqual({ remaining: ['y'], removed: true })
  })

  it('reads legacy comma-separated values and converts them on append', async () => {
    const n = name()
    await raw.hset(`map:${n}:content`, 'legacy', 'a,b,c', '=rev', '1')
    const a = await join(n)
    expect(a.getValues('legacy')).toEqual(['a', 'b', 'c'])
    expect(a.getValues('missing')).toBeUndefined()
    expect(await a.appendUniqueValues('legacy', 'c', 'd')).toEqual(['a', 'b', 'c', 'd'])
    expect(await raw.hget(`map:${n}:content`, 'legacy')).toBe('["a","b","c","d"]')
    expect(await a.removeValues('legacy', 'a')).toEqual({ remaining: ['b', 'c', 'd'], removed: true })
  })
})

describe('inc, test-and-set, test-and-delete, test-and-reset', () => {
  it('inc starts a missing key from 0 and rejects a non-integer value with a PulseError', async () => {
    const n = name()
    const a = await join(n)
    expect(await a.inc('n')).toBe(1)
    expect(await a.inc('n', 41)).toBe(42)
    expect(await a.inc('n', -1)).toBe(41)
    expect(await a.inc('n', -41)).toBe(0)
    expect(await raw.hget(`map:${n}:content`, 'n')).toBe('0')
    await a.set('s', 'abc')
    const error = await a.inc('s').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PulseError)
    expect((error as PulseError).message).toMatch(/not an integer/)
    await expect(a.inc('n', 1.5)).rejects.toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
    expect(await raw.hget(`map:${n}:content`, 's')).toBe('abc')
  })

  it('testAndSet and testAndDelete act only on equality and return the previous value', async () => {
    const n = name()
    const a = await join(n)
    expect(await a.testAndSet('k', '', 'v')).toBeUndefined()
    expect(await raw.hexists(`map:${n}:content`, 'k')).toBe(0)
    await a.set('k', 'v1')
    expect(await a.testAndSet('k', 'nope', 'v2')).toBe('v1')
    expect(await a.testAndSet('k', 'v1', 'v2')).toBe('v1')
    expect(await raw.hget(`map:${n}:content`, 'k')).toBe('v2')
    expect(await a.testAndDelete('k', 'nope')).toBe('v2')
    expect(await raw.hget(`map:${n}:content`, 'k')).toBe('v2')
    expect(await a.testAndDelete('k', 'v2')).toBe('v2')
    expect(await raw.hexists(`map:${n}:content`, 'k')).toBe(0)
    expect(await a.testAndDelete('k', 'v2')).toBeUndefined()
    expect(await a.setIfNotExists('k', 'once')).toBe(true)
    expect(await a.setIfNotExists('k', 'twice')).toBe(false)
    expect(await a.delete('k')).toBe('once')
    expect(await a.delete('k')).toBeUndefined()
  })

  it('testAndReset resets on a full match only, and unconditionally with empty arrays', async () => {
    const n = name()
    const a = await join(n)
    await a.set('a', '1')
    await a.setAndWait('b', '2')
    expect(await a.testAndReset(['a', 'b'], ['1', 'x'])).toBe(false)
    expect(await a.testAndReset(['a', 'missing'], ['1', ''])).toBe(false)
    expect(await a.testAndReset(['a'], ['1'])).toBe(true)
    await until(a, () => a.size === 0)
    expect(await hashContent(raw, n)).toEqual({})
    await a.setAndWait('c', '3')
    expect(await a.testAndReset([], [])).toBe(true)
    await until(a, () => a.size === 0)
    await expect(a.testAndReset(['a'], [])).rejects.toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
  })

  it('inc from 4 clients × 1,000 is exact, in Redis and on every replica', async () => {
    const n = name()
    const maps = await Promise.all([join(n), join(n), join(n), join(n)])
    await Promise.all(maps.map((m) => runConcurrently(1_000, 25, () => m.inc('counter'))))
    expect(await raw.hget(`map:${n}:content`, 'counter')).toBe('4000')
    await Promise.all(maps.map((m) => until(m, () => m.get('counter') === '4000')))
  })
})

describe('validation', () => {
  it('rejects bad map names at join', async () => {
    for (const bad of ['', 'a b', 'a*', 'a?', 'a[', 'a]', 'a\0b', 'x'.repeat(513)]) {
      await expect(ReplicatedMap.join(redisUrl(), bad)).rejects.toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
    }
    const longest = await join(`${'é'.repeat(500)}${mapName()}`.slice(0, 512))
    expect(longest.name.length).toBe(512)
    names.push(longest.name)
    await expect(ReplicatedMap.join(redisUrl(), 'ok', { ttlMs: -1 })).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
    })
    await expect(ReplicatedMap.join(redisUrl(), 'ok', { ttlMs: 10, slidingTtlMs: 10 })).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
    })
    await expect(ReplicatedMap.join(redisUrl(), 'ok', { nope: 1 } as never)).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
    })
    await expect(ReplicatedMap.join(42 as never, 'ok')).rejects.toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
  })

  it('rejects empty keys and keys with "=" in every write', async () => {
    const n = name()
    const a = await join(n)
    for (const bad of ['', 'a=b', '=rev']) {
      const writes = [
        a.set(bad, 'v'),
        a.setAndWait(bad, 'v'),
        a.setIfNotExists(bad, 'v'),
        a.testAndSet(bad, 'v', 'w'),
        a.inc(bad),
        a.appendValues(bad, 'v'),
        a.appendUniqueValues(bad, 'v'),
        a.removeValues(bad, 'v'),
        a.delete(bad),
        a.testAndDelete(bad, 'v'),
        a.testAndReset([bad], ['v']),
      ]
      for (const write of writes) await expect(write).rejects.toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
    }
    await expect(a.set('k', 42 as never)).rejects.toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
    expect(await raw.exists(`map:${n}:content`)).toBe(0)
  })

  it('rejects an aborted signal at join with its reason', async () => {
    const controller = new AbortController()
    const reason = new Error('no')
    controller.abort(reason)
    await expect(ReplicatedMap.join(redisUrl(), name(), { signal: controller.signal })).rejects.toBe(reason)
  })
})

describe('close', () => {
  it('keeps the last snapshot for reads, rejects writes with ClosedError, allows reset and destroy', async () => {
    const n = name()
    const a = await join(n)
    await a.setAndWait('k', 'v')
    const feed = a.subscribe()
    await a.close()
    await a.close()
    expect(a.closed).toBe(true)
    expect(a.get('k')).toBe('v')
    expect(a.toObject()).toEqual({ k: 'v' })
    expect(await feed.next()).toEqual({ done: true, value: undefined })
    for (const write of [
      a.set('k', 'w'),
      a.setAndWait('k', 'w'),
      a.delete('k'),
      a.inc('n'),
      a.appendValues('l', 'x'),
      a.testAndReset([], []),
    ]) {
      const error = await write.catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ClosedError)
      expect((error as ClosedError).message).toMatch(/is stopped/)
    }
    expect(() => a.subscribe()).toThrow(ClosedError)
    await a.reset()
    expect(await hashContent(raw, n)).toEqual({})
    expect(await raw.hget(`map:${n}:content`, '=kind')).toBe('reset')
    await a.destroy()
    expect(await raw.hget(`map:${n}:content`, '=kind')).toBe('destroy')
    expect(a.get('k')).toBe('v')
  })

  it('works with an ioredis client or a PulseRedis it does not own, and leaves them open', async () => {
    const n = name()
    const client = plainClient(redisUrl())
    const pulse = createRedis(redisUrl())
    try {
      const a = await ReplicatedMap.join(client, n)
      const b = await ReplicatedMap.join(pulse, n)
      await a.set('k', 'v')
      await until(b, () => b.get('k') === 'v')
      await a.close()
      await b.close()
      expect(await client.ping()).toBe('PONG')
      expect(await pulse.client.ping()).toBe('PONG')
      await a.reset()
      await b.destroy()
      expect(await client.hget(`map:${n}:content`, '=kind')).toBe('destroy')
    } finally {
      await pulse.close()
      await client.quit()
    }
  })

  it('closes with await using', async () => {
    const n = name()
    let kept: ReplicatedMap | undefined
    {
      await using a = await ReplicatedMap.join(redisUrl(), n)
      await a.setAndWait('k', 'v')
      kept = a
    }
    expect(kept.closed).toBe(true)
    await expect(kept.set('k', 'w')).rejects.toBeInstanceOf(ClosedError)
  })
})

describe('TTL', () => {
  it('absolute: a later write does not extend it; sliding: every write does', async () => {
    const abs = name()
    const a = await join(abs, { ttlMs: 60_000 })
    await a.set('k', 'v')
    await raw.pexpire(`map:${abs}:content`, 30_000)
    await a.set('k', 'w')
    expect(await raw.pttl(`map:${abs}:content`)).toBeLessThanOrEqual(30_000)

    const sliding = name()
    const s = await join(sliding, { slidingTtlMs: 60_000 })
    await s.set('k', 'v')
    await raw.pexpire(`map:${sliding}:content`, 30_000)
    await s.set('k', 'w')
    expect(await raw.pttl(`map:${sliding}:content`)).toBeGreaterThan(30_000)
    // A write that changes nothing is no write.
    await raw.pexpire(`map:${sliding}:content`, 30_000)
    await s.setIfNotExists('k', 'x')
    expect(await raw.pttl(`map:${sliding}:content`)).toBeLessThanOrEqual(30_000)

    const none = name()
    const plain = await join(none)
    await plain.set('k', 'v')
    expect(await raw.pttl(`map:${none}:content`)).toBe(-1)
  })
})
