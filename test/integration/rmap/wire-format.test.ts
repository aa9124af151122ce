/**
 * The pub/sub frames and the hash layout are those of goa.design/pulse v1.6.5 (docs/redis-layout.md,
 * "Maps"). The expected bytes are built here from that description — a 4-byte little-endian length
 * before each field, Lua's struct.pack("ic0…") — never with the library's encoder.
 */
import type { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

import { ReplicatedMap } from '../../../actors/rmap/index.js'
import { redisUrl } from '../../helpers/servers.js'
import { captureFrames, dropMap, mapName, plainClient, until } from './helpers.js'

/** struct.pack("ic0", #s, s): a 4-byte little-endian byte length, then the UTF-8 bytes. */
function ic0(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  const length = Buffer.alloc(4)
  length.writeUInt32LE(bytes.length, 0)
  return Buffer.concat([length, bytes])
}

function setFrame(key: string, value: string, rev: number): Buffer {
  return Buffer.concat([Buffer.from('set:'), ic0(key), ic0(value), ic0(String(rev))])
}

function delFrame(key: string, rev: number): Buffer {
  return Buffer.concat([Buffer.from('del:'), ic0(key), ic0(String(rev))])
}

let raw: Redis
const names: string[] = []

beforeAll(async () => {
  raw = plainClient(redisUrl())
  await raw.ping()
})

afterEach(async () => {
  await Promise.all(names.splice(0).map((n) => dropMap(raw, n)))
})

afterAll(async () => {
  await raw.quit()
})

describe('frames published by the writes', () => {
  it('match the reference byte for byte, one per mutation, none for a no-op', async () => {
    const n = mapName()
    names.push(n)
    const capture = await captureFrames(redisUrl(), `map:${n}:updates`)
    const map = await ReplicatedMap.join(redisUrl(), n)
    try {
      const content = `map:${n}:content`
      // The literal bytes of the first frame, as Redis' struct.pack("ic0ic0ic0", …) lays them out.
      await map.set('key', 'v')
      const [first] = await capture.next(1)
      expect(first?.toString('hex')).toBe('7365743a' + '03000000' + '6b6579' + '01000000' + '76' + '01000000' + '31')
      expect(await raw.hmget(content, '=rev', '=kind')).toEqual(['1', 'set'])

      await map.setIfNotExists('empty', '')
      await map.setIfNotExists('empty', 'no-op') // exists: nothing published
      await map.testAndSet('key', 'nope', 'no-op')
      await map.testAndSet('key', 'v', 'w:with:colons')
      await map.inc('c', 5)
      await map.appendValues('l', 'a/b')
      await map.appendUniqueValues('l', 'a/b') // nothing new
      await map.appendUniqueValues('l', 'a/b', 'c')
      await map.removeValues('l', 'zz') // nothing removed
      await map.removeValues('l', 'c')
      await map.removeValues('l', 'a/b') // empties: deleted
      expect(await raw.hmget(content, '=rev', '=kind')).toEqual(['8', 'del'])
      await map.delete('missing') // nothing to delete
      await map.delete('key')
      await map.testAndDelete('empty', '')
      await map.set('clé', 'ünïcødé ✓')
      expect(await capture.next(10)).toEqual([
        setFrame('empty', '', 2),
        setFrame('key', 'w:with:colons', 3),
        setFrame('c', '5', 4),
        setFrame('l', '["a\\/b"]', 5),
        setFrame('l', '["a\\/b","c"]', 6),
        setFrame('l', '["a\\/b"]', 7),
        delFrame('l', 8),
        delFrame('key', 9),
        delFrame('empty', 10),
        setFrame('clé', 'ünïcødé ✓', 11),
      ])
      // 'clé' is 4 bytes and the value 14: lengths count bytes, not characters.
      expect(ic0('clé').readUInt32LE(0)).toBe(4)

      await map.reset()
      expect(await raw.hgetall(content)).toEqual({ '=rev': '12', '=kind': 'reset' })
      await map.set('k', 'v')
      await map.testAndReset(['k'], ['other']) // no match: nothing published
      await map.testAndReset([], [])
      await map.destroy()
      expect(await capture.next(4)).toEqual([
        Buffer.from('reset:12'),
        setFrame('k', 'v', 13),
        Buffer.from('reset:14'),
        Buffer.from('destroy:15'),
      ])
      // The destroy tombstone: exactly {=rev, =kind: destroy}, so later writes keep counting up.
      expect(await raw.hgetall(content)).toEqual({ '=rev': '15', '=kind': 'destroy' })
      await map.setAndWait('again', '1')
      expect(await capture.next(1)).toEqual([setFrame('again', '1', 16)])
      expect(map.toObject()).toEqual({ again: '1' })
      expect(capture.frames).toHaveLength(16)
    } finally {
      await map.close()
      await capture.close()
    }
  })
})

describe('frames received by a replica', () => {
  it('applies hand-built frames of a foreign writer, ignores malformed, reserved and stale ones', async () => {
    const n = mapName()
    names.push(n)
    const content = `map:${n}:content`
    const channel = `map:${n}:updates`
    // A foreign writer (a Go peer): the hash mutation, =rev, =kind and the frame in one transaction.
    const foreignSet = (key: string, value: string, rev: number) =>
      raw
        .multi()
        .hset(content, key, value, '=rev', String(rev), '=kind', 'set')
        .publish(channel, setFrame(key, value, rev))
        .exec()
    const foreignDel = (key: string, rev: number) =>
      raw
        .multi()
        .hdel(content, key)
        .hset(content, '=rev', String(rev), '=kind', 'del')
        .publish(channel, delFrame(key, rev))
        .exec()
    const foreignClear = (op: 'reset' | 'destroy', rev: number) =>
      raw
        .multi()
        .del(content)
        .hset(content, '=rev', String(rev), '=kind', op)
        .publish(channel, Buffer.from(`${op}:${rev}`))
        .exec()

    const map = await ReplicatedMap.join(redisUrl(), n)
    const feed = map.subscribe()
    try {
      await foreignSet('a', '1', 1)
      expect((await feed.next()).value).toBe('change')
      expect(map.get('a')).toBe('1')
      expect(map.revision).toBe(1)
      await foreignSet('sep', 'x:y\0z,w', 2)
      await foreignSet('ключ', '値', 3)
      await until(map, () => map.get('ключ') === '値')
      expect(map.get('sep')).toBe('x:y\0z,w')
      await foreignDel('a', 4)
      await until(map, () => !map.has('a'))
      expect(map.revision).toBe(4)

      // Malformed frames are logged and ignored; a frame for a reserved field is ignored.
      const truncated = Buffer.concat([Buffer.from('set:'), Buffer.from([100, 0, 0, 0]), Buffer.from('abc')])
      for (const bad of [
        truncated,
        Buffer.from('bogus:1'),
        Buffer.from('reset:*'),
        Buffer.from('destroy:'),
        Buffer.from('no-colon'),
      ]) {
        await raw.publish(channel, bad)
      }
      await raw.publish(channel, setFrame('=rev', '999', 5))
      await foreignSet('b', '2', 5)
      await until(map, () => map.get('b') === '2')
      expect(map.stats.malformed).toBe(5)
      expect(map.revision).toBe(5)
      expect(map.stats.regressions).toBe(0)

      // A stale frame (rev ≤ the local rev) is never applied. Once the replica is in step with the
      // channel, it can only mean that the counter went backwards: the replica reloads the hash.
      await raw.publish(channel, setFrame('a', 'stale', 1))
      await foreignSet('c', '3', 6)
      await until(map, () => map.get('c') === '3')
      expect(map.get('a')).toBeUndefined()
      expect(map.toObject()).toEqual({ sep: 'x:y\0z,w', ключ: '値', b: '2', c: '3' })
      expect(map.stats.regressions).toBe(1)

      await feed.return()
      const kinds = map.subscribe()
      await foreignClear('reset', 7)
      expect((await kinds.next()).value).toBe('reset')
      expect(map.size).toBe(0)
      await foreignSet('d', '4', 8)
      expect((await kinds.next()).value).toBe('change')
      await foreignClear('destroy', 9)
      expect((await kinds.next()).value).toBe('reset')
      expect(map.size).toBe(0)
      expect(map.revision).toBe(9)
      await kinds.return()
    } finally {
      await map.close()
    }
  })
})
