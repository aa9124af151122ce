import { describe, expect, it } from 'vitest'

import {
  compareIds,
  decodeEntry,
  entryArgs,
  entryTimeMs,
  idBeforeMs,
  isEntryId,
} from '../../../transports/redis/streaming/entry.js'

const b = (s: string) => Buffer.from(s)

describe('stream entries', () => {
  it('encodes n, p and t (only with a topic)', () => {
    expect(entryArgs({ name: 'e', payload: 'x' })).toEqual(['n', 'e', 'p', 'x'])
    const args = entryArgs({ name: 'e', payload: new Uint8Array([1, 2]), topic: '' })
    expect(args.slice(0, 3)).toEqual(['n', 'e', 'p'])
    expect([...(args[3] as Buffer)]).toEqual([1, 2])
    expect(args.slice(4)).toEqual(['t', ''])
  })

  it('decodes Pulse entries, ignores extra fields, and refuses the others', () => {
    expect(decodeEntry('1-0', [b('n'), b('e'), b('p'), b('x'), b('extra'), b('1')])).toEqual({
      id: '1-0',
      name: 'e',
      payload: b('x'),
      topic: undefined,
    })
    expect(decodeEntry('1-0', [b('t'), b('eu'), b('p'), b(''), b('n'), b('')])).toEqual({
      id: '1-0',
      name: '',
      payload: b(''),
      topic: 'eu',
    })
    expect(decodeEntry('1-0', [b('n'), b('e')])).toBeUndefined()
    expect(decodeEntry('1-0', [b('p'), b('x')])).toBeUndefined()
    expect(decodeEntry('1-0', [b('n'), b('e'), b('p')])).toBeUndefined()
    expect(decodeEntry('1-0', null)).toBeUndefined()
    expect(decodeEntry('1-0', ['n', 'e', 'p', 'x'])).toBeUndefined()
  })

  it('orders ids numerically and starts { at } at the millisecond', () => {
    expect(compareIds('9-0', '10-0')).toBeLessThan(0)
    expect(compareIds('10-2', '10-10')).toBeLessThan(0)
    expect(compareIds('10-1', '10-1')).toBe(0)
    expect(compareIds('18446744073709551615-1', '18446744073709551615-0')).toBeGreaterThan(0)
    expect(idBeforeMs(2000)).toBe('1999-18446744073709551615')
    expect(compareIds(idBeforeMs(2000), '2000-0')).toBeLessThan(0)
    expect(compareIds(idBeforeMs(2000), '1999-99')).toBeGreaterThan(0)
    expect(idBeforeMs(0)).toBe('0-0')
    expect(entryTimeMs('1700000000123-7')).toBe(1700000000123)
    expect(['1-0', '5', '0-0'].every(isEntryId)).toBe(true)
    expect(['', '$', '>', '1-', 'a-1', '-1'].some(isEntryId)).toBe(false)
  })
})
