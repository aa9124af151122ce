/** A map's hash as HGETALL gives it, list values, and which reason to (re)load wins. */
import { describe, expect, it } from 'vitest'

import { isReserved, parseSnapshot, strongerReason } from '../../../actors/rmap/hash-content.js'
import { parseListValue } from '../../../actors/rmap/list-value.js'

describe('the content hash', () => {
  it('splits the reserved =rev and =kind fields from the entries', () => {
    const snapshot = parseSnapshot({ '=rev': '42', '=kind': 'set', a: '1', b: '' })
    expect(snapshot.rev).toBe(42)
    expect(snapshot.kind).toBe('set')
    expect([...snapshot.content]).toEqual([
      ['a', '1'],
      ['b', ''],
    ])
  })

  it('reads a missing or malformed revision as 0, and an empty hash as an empty map', () => {
    expect(parseSnapshot({ a: '1' })).toMatchObject({ rev: 0, kind: undefined })
    expect(parseSnapshot({ '=rev': 'NaN', a: '1' }).rev).toBe(0)
    expect(parseSnapshot({ '=rev': '-3' }).rev).toBe(0)
    expect(parseSnapshot({}).content.size).toBe(0)
  })

  it('knows exactly the two reserved fields', () => {
    expect(isReserved('=rev')).toBe(true)
    expect(isReserved('=kind')).toBe(true)
    expect(isReserved('=other')).toBe(false)
    expect(isReserved('rev')).toBe(false)
  })
})

describe('load reasons', () => {
  it('keep the strongest of those that came during one load: reconnect > regression > gap = overflow > join', () => {
    expect(strongerReason(undefined, 'join')).toBe('join')
    expect(strongerReason('join', 'gap')).toBe('gap')
    expect(strongerReason('gap', 'overflow')).toBe('gap') // a tie keeps the first
    expect(strongerReason('overflow', 'regression')).toBe('regression')
    expect(strongerReason('regression', 'reconnect')).toBe('reconnect')
    expect(strongerReason('reconnect', 'join')).toBe('reconnect')
  })
})

describe('list values', () => {
  it('read the JSON arrays the scripts write, cjson’s escaped slashes included', () => {
    expect(parseListValue('["a","b,c"]')).toEqual(['a', 'b,c'])
    expect(parseListValue('["a\\/b"]')).toEqual(['a/b'])
    expect(parseListValue('[]')).toEqual([])
    expect(parseListValue('  ["x"]  ')).toEqual(['x'])
  })

  it('write non-string items of a foreign array as their JSON', () => {
    expect(parseListValue('[1,true,null,{"a":1}]')).toEqual(['1', 'true', 'null', '{"a":1}'])
  })

  it('read older peers’ comma-separated values, skipping empty items', () => {
    expect(parseListValue('a,b,,c,')).toEqual(['a', 'b', 'c'])
    expect(parseListValue('')).toEqual([])
    expect(parseListValue('[not json')).toEqual(['[not json'])
    expect(parseListValue('[1,2')).toEqual(['[1', '2'])
  })
})
