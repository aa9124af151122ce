/** The XREAD / XREADGROUP reply decoder, on RESP bytes built here (incomplete at every cut, odd shapes). */
import { describe, expect, it } from 'vitest'

import { decodeReadReply, type ReadColumns } from '../../../transports/redis/streaming/read-reply.js'

type Resp = string | Buffer | null | Resp[]

function resp(value: Resp): Buffer {
  if (value === null) return Buffer.from('*-1\r\n')
  if (Array.isArray(value)) return Buffer.concat([Buffer.from(`*${value.length}\r\n`), ...value.map(resp)])
  const bytes = typeof value === 'string' ? Buffer.from(value) : value
  return Buffer.concat([Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n')])
}

function payloads(c: ReadColumns): string[] {
  return c.ids.map((_, i) => c.src.toString('utf8', c.starts[i], c.ends[i]))
}

const reply: Resp = [
  [
    'pulse:stream:a',
    [
      ['1-0', ['n', 'created', 'p', '{"x":1}']],
      ['1-1', ['n', 'created', 'p', Buffer.from([0, 13, 10, 255]), 't', 'eu']],
      ['2-0', ['p', 'no name']],
      ['3-0', ['n', 'updated', 'p', '', 'extra', 'ignored']],
      ['4-0', null],
      ['5-0', ['n', 'odd', 'p']],
    ],
  ],
  ['pulse:stream:b', [['9-0', ['n', 'é', 'p', 'b']]]],
]

describe('decodeReadReply', () => {
  it('decodes entries into columns: ids, shared names, topics, payload spans; lists the malformed; skips deleted ones', () => {
    const bytes = resp(reply)
    const decoded = decodeReadReply(Buffer.concat([bytes, Buffer.from('+OK\r\n')]), 0)
    expect(decoded?.end).toBe(bytes.length)
    const [a, b] = decoded?.value ?? []
    expect(a?.key).toBe('pulse:stream:a')
    expect(a?.ids).toEqual(['1-0', '1-1', '3-0'])
    expect(a?.names).toEqual(['created', 'created', 'updated'])
    expect(a?.topics).toEqual([undefined, 'eu', undefined])
    expect(a && payloads(a)).toEqual(['{"x":1}', Buffer.from([0, 13, 10, 255]).toString('utf8'), ''])
    expect(a?.src.subarray(a.starts[1], a.ends[1])).toEqual(Buffer.from([0, 13, 10, 255]))
    expect(a?.malformed).toEqual(['2-0', '5-0'])
    expect(a?.lastId).toBe('5-0')
    expect(b).toMatchObject({ key: 'pulse:stream:b', ids: ['9-0'], names: ['é'], topics: null })
  })

  it('asks for more bytes at every cut of the reply, and decodes it once whole', () => {
    const bytes = resp(reply)
    for (let cut = 0; cut < bytes.length; cut++) expect(decodeReadReply(bytes.subarray(0, cut), 0)).toBeUndefined()
    expect(decodeReadReply(bytes, 0)?.value).toHaveLength(2)
  })

  it('reads a timeout as null, and starts where it is told', () => {
    const bytes = Buffer.concat([Buffer.from('junk'), resp(null)])
    expect(decodeReadReply(bytes, 4)).toEqual({ value: null, end: bytes.length })
  })

  it('throws on a reply of another shape (the replies are out of step)', () => {
    expect(() => decodeReadReply(Buffer.from(':1\r\n'), 0)).toThrow(/expected \*/)
    expect(() => decodeReadReply(resp([['k']]), 0)).toThrow(/not \[key, entries\]/)
    expect(() => decodeReadReply(Buffer.from('*1x\r\n'), 0)).toThrow(/bad integer/)
  })
})
