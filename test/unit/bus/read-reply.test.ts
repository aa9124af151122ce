// The bus's XREAD reply decoder (transports/redis/bus/read-reply.ts) on RESP bytes built here.
import { describe, expect, it } from 'vitest'

import { decodeBusRead } from '../../../transports/redis/bus/read-reply.js'

const bulk = (value: string | Buffer): Buffer => {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value
  return Buffer.concat([Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n')])
}
const array = (items: readonly Buffer[]): Buffer => Buffer.concat([Buffer.from(`*${items.length}\r\n`), ...items])
const entry = (id: string, fields: readonly (string | Buffer)[]): Buffer => array([bulk(id), array(fields.map(bulk))])
const reply = (streams: readonly [string, readonly Buffer[]][]): Buffer =>
  array(streams.map(([key, entries]) => array([bulk(key), array(entries)])))

const kFull = entry('1-0', [
  'i',
  'e_1',
  's',
  'a.x',
  'c',
  '2026-01-01T00:00:00Z',
  'k',
  'key',
  't',
  'tr',
  'r',
  '_bus_.in',
  'p',
  '{"n":1}',
  'x',
  '{}',
])
const kBare = entry('1-1', ['i', 'e_2', 's', 'a.x', 'c', '2026-01-01T00:00:00Z'])

describe('decodeBusRead', () => {
  it('decodes every field of a bus entry, and an entry without the optional ones', () => {
    const bytes = reply([['p:{a}:log', [kFull, kBare]]])
    const decoded = decodeBusRead(bytes, 0)
    expect(decoded?.end).toBe(bytes.length)
    const [stream] = decoded?.value ?? []
    expect(stream?.key).toBe('p:{a}:log')
    expect(stream?.lastId).toBe('1-1')
    expect(stream?.malformed).toBe(0)
    expect(stream?.entries[0]).toEqual({
      entryId: '1-0',
      id: 'e_1',
      subject: 'a.x',
      createdAt: '2026-01-01T00:00:00Z',
      key: 'key',
      traceId: 'tr',
      responseSubject: '_bus_.in',
      payload: Buffer.from('{"n":1}'),
      traceContext: '{}',
    })
    const bare = stream?.entries[1]
    expect([bare?.id, bare?.key, bare?.responseSubject, bare?.payload.length]).toEqual(['e_2', undefined, undefined, 0])
  })

  it('copies payloads out of the reply and reads a timeout as null', () => {
    const bytes = reply([['k', [kFull]]])
    const payload = decodeBusRead(bytes, 0)?.value?.[0]?.entries[0]?.payload
    bytes.fill(0)
    expect(payload?.toString()).toBe('{"n":1}')
    expect(decodeBusRead(Buffer.from('*-1\r\n'), 0)).toEqual({ value: null, end: 5 })
  })

  it('asks for more bytes at every cut of a reply, and starts where it is told', () => {
    const bytes = reply([
      ['k1', [kFull, kBare]],
      ['k2', [kBare]],
    ])
    for (let cut = 0; cut < bytes.length; cut++) expect(decodeBusRead(bytes.subarray(0, cut), 0)).toBeUndefined()
    const shifted = Buffer.concat([Buffer.from('+OK\r\n'), bytes])
    const decoded = decodeBusRead(shifted, 5)
    expect(decoded?.end).toBe(shifted.length)
    expect(decoded?.value?.map((s) => [s.key, s.entries.length])).toEqual([
      ['k1', 2],
      ['k2', 1],
    ])
  })

  it('skips entries that are not bus events, counting them, and moves lastId past them', () => {
    const foreign = entry('2-0', ['n', 'x', 'p', '1'])
    const odd = entry('2-1', ['i', 'e_3', 's', 'a.x', 'c'])
    const utf8 = entry('2-2', ['i', 'e_4', 's', 'a.é', 'zz', 'ignored', 'p', Buffer.from([0xff])])
    const [stream] = decodeBusRead(reply([['k', [foreign, odd, utf8]]]), 0)?.value ?? []
    expect(stream?.malformed).toBe(2)
    expect(stream?.lastId).toBe('2-2')
    expect(stream?.entries.map((e) => [e.id, e.subject, e.payload])).toEqual([['e_4', 'a.é', Buffer.from([0xff])]])
  })

  it('throws on a reply that is not an XREAD reply', () => {
    expect(() => decodeBusRead(Buffer.from(':1\r\n'), 0)).toThrow()
    expect(() => decodeBusRead(array([array([bulk('k'), array([array([bulk('1-0')])])])]), 0)).toThrow()
  })
})
