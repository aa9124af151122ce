// The in-process Bus against the real Redis: what the HTTP API promises (docs/bus-http-api.md), without HTTP.
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'

import type { BusEvent } from '../../../actors/bus/index.js'
import {
  Bus,
  DuplicateEventError,
  InvalidArgumentError,
  NoResponderError,
  TimeoutError,
} from '../../../actors/bus/index.js'
import { sleep } from '../../../runtime/lifecycle.js'
import { redisUrl } from '../../helpers/servers.js'
import { waitFor } from '../../helpers/wait.js'
import { Opened, take, text } from './helpers.js'

let opened = new Opened()
afterEach(async () => {
  await opened.close()
  opened = new Opened()
})

describe('Bus', () => {
  it('refuses _bus_ and empty namespaces', async () => {
    await expect(Bus.connect(redisUrl(), { namespaces: ['a', '_bus_'] })).rejects.toThrow('namespace _bus_ is reserved')
    await expect(Bus.connect(redisUrl(), { namespaces: [] })).rejects.toThrow(InvalidArgumentError)
  })

  it('puts with e_ ids and increasing indexes, and get from oldest yields them in order, payload verbatim', async () => {
    const bus = await opened.bus()
    const r1 = await bus.put('a.b.c', '"hi"')
    const r2 = await bus.put('a.b.c', Buffer.from('{"a": 1, "b": 2}'))
    const r3 = await bus.put('a.b.c')
    expect(r1.id).toMatch(/^e_[0-9a-v]{20}$/)
    expect(r2.index).toBe(r1.index + 1)
    const events = await take(bus.get('a.b.c', { start: 'oldest' }), 3)
    expect(events.map((e) => e.id)).toEqual([r1.id, r2.id, r3.id])
    expect(text(events[1]!)).toBe('{"a": 1, "b": 2}')
    expect(events[1]!.record).toBe(
      `{"id":"${r2.id}","subject":"a.b.c","created_at":"${r2.createdAtText}","payload":{"a": 1, "b": 2}}`,
    )
    expect(events[2]!.record).not.toContain('payload')
    expect(events[2]!.payload.length).toBe(0)
    // Non-JSON text becomes a JSON string; JSON text stays as it is.
    await bus.put('a.t', 'hi')
    await bus.put('a.t', '123')
    const t = await take(bus.get('a.t', { start: 'oldest' }), 2)
    expect(t.map(text)).toEqual(['"hi"', '123'])
  })

  it('validates subjects and namespaces', async () => {
    const bus = await opened.bus()
    await expect(bus.put('', 1)).rejects.toThrow('subject is required')
    await expect(bus.put('a.*', 1)).rejects.toThrow('subject should not have * or >')
    await expect(bus.put('nodots', 1)).rejects.toThrow('invalid subject: missing namespace')
    await expect(bus.put('zz.x', 1)).rejects.toThrow('namespace not found: zz')
    for (const [pattern, reason] of [
      ['a.b-c', 'subject should have only consists of alphanumerics, dots, *, > and _'],
      ['a.**', 'subject should have a dot after *'],
      ['a.b>', 'subject should have a dot before >'],
      ['*.x', 'subject should not starts with *'],
      ['>', 'subject should not starts with >'],
      ['zz.x', 'namespace not found: zz'],
    ]) {
      expect(() => bus.get(pattern!), pattern).toThrow(reason)
    }
  })

  it('refuses an event id that a header or an SSE id line could not carry, and stores nothing', async () => {
    const bus = await opened.bus()
    for (const id of ['', 'a\nb', 'e_1\r', ' e_1', 'e_1\u0000', 'e_\u2603']) {
      await expect(bus.put('a.ids', 1, { id }), JSON.stringify(id)).rejects.toMatchObject({
        code: 'PULSE_ERR_INVALID_ARG',
        data: { option: 'options.id' },
      })
      await expect(bus.put([{ subject: 'a.ids', payload: 1, id }])).rejects.toMatchObject({
        data: { option: 'items[0].id' },
      })
    }
    await bus.put('a.ids', 2, { id: 'e_ok' })
    const [event] = await take(bus.get('a.ids', { start: 'oldest' }), 1)
    expect(event?.id).toBe('e_ok')
  })

  it('matches wildcards, including the zero-token > and fans out to overlapping patterns', async () => {
    const bus = await opened.bus()
    const gt = bus.get('a.b.>')
    const star = bus.get('a.*.c')
    const all = bus.get('a.>')
    await Promise.all([gt.ready, star.ready, all.ready])
    for (const s of ['a.b', 'a.b.c', 'a.x.c', 'a.b.c.d', 'a.x.y']) await bus.put(s, s)
    expect((await take(gt, 3)).map(text)).toEqual(['"a.b"', '"a.b.c"', '"a.b.c.d"'])
    expect((await take(star, 2)).map(text)).toEqual(['"a.b.c"', '"a.x.c"'])
    expect((await take(all, 5)).map((e) => e.subject)).toEqual(['a.b', 'a.b.c', 'a.x.c', 'a.b.c.d', 'a.x.y'])
  })

  it('start newest sees only later events, a batch whole; start=id resumes after it; an unknown id fails', async () => {
    const bus = await opened.bus()
    const old = await bus.put([
      { subject: 'a.x', payload: 'o1' },
      { subject: 'a.x', payload: 'o2' },
      { subject: 'a.x', payload: 'o3' },
    ])
    const newest = bus.get('a.x')
    const batch = await bus.put([
      { subject: 'a.x', payload: 'one' },
      { subject: 'a.x', payload: 'two' },
      { subject: 'a.x', payload: 'three' },
    ])
    expect((await take(newest, 3)).map(text)).toEqual(['"one"', '"two"', '"three"'])
    const after = await take(bus.get('a.x', { start: old[1]!.id }), 4)
    expect(after.map((e) => e.id)).toEqual([old[2]!.id, ...batch.map((r) => r.id)])
    await expect(bus.get('a.x', { start: 'e_doesnotexist' }).next()).rejects.toThrow(
      'start event id e_doesnotexist not found in namespace a',
    )
    await expect(bus.put([])).rejects.toThrow('empty batch')
    await expect(bus.put([{ subject: 'a.x' }, { subject: 'b.x' }])).rejects.toThrow(
      'all events in batch must belong to the same namespace',
    )
    await expect(bus.put([{ subject: '_bus_.x' }])).rejects.toThrow('reserved _bus_ namespace')
  })

  it('ack none never redelivers; manual holds the next event until the ack', async () => {
    const bus = await opened.bus()
    const none = bus.get('a.>', { start: 'oldest' })
    const manual = bus.get('a.>', { start: 'oldest', ack: 'manual', redelivery: { delayMs: 60_000, count: 3 } })
    for (let i = 0; i < 3; i++) await bus.put(`a.m${i}`, i)
    expect((await take(none, 3)).map(text)).toEqual(['0', '1', '2'])
    const [first] = await take(manual, 1)
    let second = false
    const pending = manual.next().then((r) => {
      second = true
      return r
    })
    await new Promise((resolve) => setImmediate(resolve))
    expect(second).toBe(false)
    await first!.ack()
    const next = await pending
    expect(next.done).toBe(false)
    expect(text(next.value as BusEvent)).toBe('1')
  })

  it('redelivers an unacked event exactly count times, then moves on; acking a redelivered copy stops it', async () => {
    const bus = await opened.bus()
    const sub = bus.get('a.r', { start: 'oldest', ack: 'manual', redelivery: { delayMs: 100, count: 3 } })
    const e1 = await bus.put('a.r', 1)
    const e2 = await bus.put('a.r', 2)
    const got = await take(sub, 4)
    expect(got.map((e) => e.id)).toEqual([e1.id, e1.id, e1.id, e2.id])
    expect(got.map((e) => e.delivery)).toEqual([1, 2, 3, 1])
    const started = Date.now()
    const again = await take(sub, 1) // e2 redelivered after ~100 ms
    expect(again[0]!.id).toBe(e2.id)
    expect(Date.now() - started).toBeGreaterThanOrEqual(90)
    await again[0]!.ack()
    const e3 = await bus.put('a.r', 3)
    expect((await take(sub, 1))[0]!.id).toBe(e3.id)
  })

  it('dedups by key and subject, all or nothing for a batch, across a bus restart, until the TTL', async () => {
    let bus = await opened.bus({ dedupTtlMs: 60_000 })
    await bus.put('a.k', 1, { key: 'k1' })
    await expect(bus.put('a.k', 2, { key: 'k1' })).rejects.toBeInstanceOf(DuplicateEventError)
    await bus.put('a.other', 3, { key: 'k1' })
    await bus.put('a.k', 4, { key: '' })
    await bus.put('a.k', 5, { key: '' })
    await expect(
      bus.put([
        { subject: 'a.k', payload: 6, key: 'fresh' },
        { subject: 'a.k', payload: 7, key: 'k1' },
      ]),
    ).rejects.toMatchObject({ code: 'PULSE_ERR_BUS_DUPLICATE' })
    await bus.close()
    bus = await opened.bus({ dedupTtlMs: 60_000 })
    await expect(bus.put('a.k', 8, { key: 'k1' })).rejects.toBeInstanceOf(DuplicateEventError)
    await bus.put('a.k', 9, { key: 'fresh' }) // the failed batch recorded nothing
    const all = await take(bus.get('a.>', { start: 'oldest' }), 5)
    expect(all.map(text)).toEqual(['1', '3', '4', '5', '9'])
    const short = await opened.bus({ dedupTtlMs: 50 })
    await short.put('b.k', 1, { key: 'ttl' })
    await expect(short.put('b.k', 1, { key: 'ttl' })).rejects.toBeInstanceOf(DuplicateEventError)
    // The put itself is the probe: refused as a duplicate until the key's 50 ms window has passed.
    await waitFor(
      () =>
        short.put('b.k', 2, { key: 'ttl' }).then(
          () => true,
          () => false,
        ),
      { timeoutMs: 5_000, intervalMs: 20, what: 'the dedup key to expire' },
    )
  })

  it('a durable consumer resumes after its last ack across a bus restart', async () => {
    let bus = await opened.bus()
    for (let i = 1; i <= 5; i++) await bus.put('a.d', i)
    let sub = bus.get('a.d', { start: 'oldest', ack: 'manual', durable: 'billing' })
    for (const event of await take(sub, 1)) await event.ack()
    const [second] = await take(sub, 1)
    await second!.ack()
    await take(sub, 1) // the third is delivered, never acked
    await sub.return()
    await bus.close()
    bus = await opened.bus()
    sub = bus.get('a.d', { start: 'newest', ack: 'manual', durable: 'billing' })
    const resumed = await take(sub, 1)
    expect(text(resumed[0]!)).toBe('3')
    await resumed[0]!.ack()
    expect(text((await take(sub, 1))[0]!)).toBe('4')
  })

  describe('retention', () => {
    /** The namespace's stream length and event-id index size, as Redis holds them. */
    async function stored(ns: string): Promise<{ log: number; ids: number }> {
      const raw = new Redis(redisUrl(), { maxRetriesPerRequest: 1 })
      try {
        return {
          log: await raw.xlen(`${opened.prefix}{${ns}}:log`),
          ids: await raw.hlen(`${opened.prefix}{${ns}}:ids`),
        }
      } finally {
        await raw.quit()
      }
    }

    it('maxLen keeps the newest events with their ids; a dropped start id is unknown, a kept one resumes', async () => {
      const bus = await opened.bus({ maxLen: 5 })
      await bus.put([1, 2, 3].map((payload) => ({ subject: 'b.r', payload })))
      const single = []
      for (let i = 0; i < 12; i++) single.push(await bus.put('a.r', i))
      const batch = await bus.put([12, 13, 14].map((payload) => ({ subject: 'a.r', payload })))
      expect(await stored('a')).toEqual({ log: 5, ids: 5 })
      expect((await take(bus.get('a.r', { start: 'oldest' }), 5)).map(text)).toEqual(['10', '11', '12', '13', '14'])
      await expect(bus.get('a.r', { start: single[9]!.id }).next()).rejects.toThrow(
        `start event id ${single[9]!.id} not found`,
      )
      expect((await take(bus.get('a.r', { start: single[10]!.id }), 4)).map((e) => e.id)).toEqual([
        single[11]!.id,
        ...batch.map((r) => r.id),
      ])
      expect(await stored('b')).toEqual({ log: 3, ids: 3 }) // each namespace's stream has the bound to itself
    })

    it('dropping an event keeps the index of a later event published with the same id', async () => {
      const bus = await opened.bus({ maxLen: 2 })
      await bus.put('a.s', 'first', { id: 'e_twice' })
      await bus.put('a.s', 'between')
      await bus.put('a.s', 'second', { id: 'e_twice' })
      await bus.put('a.s', 'after')
      expect(await stored('a')).toEqual({ log: 2, ids: 2 })
      expect((await take(bus.get('a.s', { start: 'e_twice' }), 1)).map(text)).toEqual(['"after"'])
    })

    it('maxAgeMs drops the events older than it at the next put', async () => {
      const bus = await opened.bus({ maxAgeMs: 200 })
      await bus.put([1, 2, 3].map((payload) => ({ subject: 'a.t', payload })))
      expect(await stored('a')).toEqual({ log: 3, ids: 3 })
      await sleep(250) // the entries' age is the subject: nothing to await but time
      await bus.put('a.t', 4)
      expect(await stored('a')).toEqual({ log: 1, ids: 1 })
      expect((await take(bus.get('a.t', { start: 'oldest' }), 1)).map(text)).toEqual(['4'])
    })

    it('a longer stream comes down over the next puts, at most 64 more entries than each put adds', async () => {
      const unbounded = await opened.bus()
      await unbounded.put(Array.from({ length: 200 }, (_, i) => ({ subject: 'a.l', payload: i })))
      const bus = await opened.bus({ maxLen: 10 })
      await bus.put('a.l', 200)
      expect(await stored('a')).toEqual({ log: 136, ids: 136 })
      await bus.put('a.l', 201)
      await bus.put('a.l', 202)
      expect(await stored('a')).toEqual({ log: 10, ids: 10 })
      expect((await take(bus.get('a.l', { start: 'oldest' }), 10)).map(text)).toEqual(
        Array.from({ length: 10 }, (_, i) => String(193 + i)),
      )
    })

    it('a durable consumer whose cursor was dropped resumes at the oldest event kept', async () => {
      const unbounded = await opened.bus()
      for (let i = 1; i <= 3; i++) await unbounded.put('a.d', i)
      const sub = unbounded.get('a.d', { start: 'oldest', ack: 'manual', durable: 'audit' })
      for (const event of await take(sub, 1)) await event.ack()
      await sub.return()
      const bus = await opened.bus({ maxLen: 2 })
      for (let i = 4; i <= 6; i++) await bus.put('a.d', i)
      const resumed = bus.get('a.d', { start: 'newest', ack: 'manual', durable: 'audit' })
      const [first] = await take(resumed, 1)
      expect(text(first!)).toBe('5')
      await first!.ack()
      expect(text((await take(resumed, 1))[0]!)).toBe('6')
    })

    it('refuses a bad bound', async () => {
      await expect(opened.bus({ maxLen: -1 })).rejects.toThrow(InvalidArgumentError)
      await expect(opened.bus({ maxLen: 2.5 })).rejects.toThrow('options.maxLen')
      await expect(opened.bus({ maxAgeMs: '1d' as unknown as number })).rejects.toThrow('options.maxAgeMs')
    })
  })

  it('confirm(2) resolves after two distinct consumers ack; one consumer acking twice is not two; rejects at the deadline', async () => {
    const bus = await opened.bus()
    const c1 = bus.get('a.>', { ack: 'manual' })
    const c2 = bus.get('a.>', { ack: 'manual' })
    await Promise.all([c1.ready, c2.ready])
    const put = bus.put('a.confirm', 'x', { confirm: 2, timeoutMs: 10_000 })
    const [e1] = await take(c1, 1)
    await e1!.ack()
    await e1!.ack()
    let settled = false
    void put.finally(() => (settled = true))
    await new Promise((resolve) => setImmediate(resolve))
    expect(settled).toBe(false)
    const [e2] = await take(c2, 1)
    await e2!.ack()
    expect((await put).id).toBe(e1!.id)
    const lonely = bus.put('a.confirm', 'y', { confirm: 2, timeoutMs: 300 })
    const [e3] = await take(c1, 1)
    await e3!.ack()
    await expect(lonely).rejects.toBeInstanceOf(TimeoutError)
    await expect(lonely).rejects.toMatchObject({ data: { confirmed: 1, wanted: 2 } })
  })

  it('request/reply through an inbox; no subscriber → NoResponderError at once; a silent subscriber → at the timeout', async () => {
    const bus = await opened.bus()
    const responder = bus.reply('rpc.add', (req) => {
      const { a, b } = JSON.parse(text(req)) as { a: number; b: number }
      return { sum: a + b }
    })
    await responder.ready
    expect((await bus.request('rpc.add', { a: 2, b: 3 })).toString()).toBe('{"sum":5}')
    const started = Date.now()
    await expect(bus.request('rpc.nobody', {}, { timeoutMs: 5_000 })).rejects.toBeInstanceOf(NoResponderError)
    expect(Date.now() - started).toBeLessThan(1_000)
    const silent = bus.get('rpc.silent')
    await silent.ready
    await expect(bus.request('rpc.silent', {}, { timeoutMs: 200 })).rejects.toThrow(
      'no reply to rpc.silent within 200 ms',
    )
    // The request is persisted with its response subject.
    const [persisted] = await take(bus.get('rpc.add', { start: 'oldest' }), 1)
    expect(persisted!.responseSubject).toMatch(/^_bus_\.[0-9a-v]{20}$/)
    await responder.close()
    // Another bus on the same Redis sees the subscription through the registry.
    const other = await opened.bus()
    await expect(other.request('rpc.silent', {}, { timeoutMs: 100 })).rejects.toThrow('no reply')
  })

  it('inbox subjects: never persisted, live subscribers only, no wildcards', async () => {
    const bus = await opened.bus()
    expect(() => bus.get('_bus_.x.*')).toThrow('inbox subjects cannot contain wildcards')
    expect((await bus.put('_bus_.abc', 'lost')).index).toBe(-1)
    const inbox = bus.get('_bus_.abc')
    await inbox.ready
    await bus.put('_bus_.abc', 'seen')
    expect(text((await take(inbox, 1))[0]!)).toBe('"seen"')
  })

  it('a slow manual consumer in one namespace does not delay another namespace', async () => {
    const bus = await opened.bus()
    const slow = bus.get('a.>', { ack: 'manual', redelivery: { delayMs: 60_000, count: 1 } })
    const fast = bus.get('b.>')
    await Promise.all([slow.ready, fast.ready])
    await bus.put('a.1', 1)
    await bus.put('a.2', 2)
    await take(slow, 1)
    for (let i = 0; i < 20; i++) await bus.put(`b.${i}`, i)
    expect((await take(fast, 20)).length).toBe(20)
  })

  it('a subscription that falls behind its buffer reads the rest from Redis, in order, nothing lost', async () => {
    const bus = await opened.bus({ bufferSize: 4, batchSize: 8 })
    const sub = bus.get('a.>')
    await sub.ready
    const ids: string[] = []
    for (let i = 0; i < 50; i++) ids.push((await bus.put(`a.s${i % 3}`, i)).id)
    const got = await take(sub, 50)
    expect(got.map((e) => e.id)).toEqual(ids)
  })

  it('works on a client passed in with ioredis auto-pipelining (its callBuffer drops the command name)', async () => {
    const client = new Redis(redisUrl(), { enableAutoPipelining: true })
    opened.add({ close: () => client.quit().then(() => undefined) })
    const bus = opened.add(await Bus.connect(client, { namespaces: ['a'], keyPrefix: opened.prefix }))
    const put = await Promise.all([bus.put('a.x', 1), bus.put('a.y', 2)])
    const got = await take(bus.get('a.>', { start: 'oldest' }), 2, 5_000)
    expect(got.map((e) => e.id).sort()).toEqual(put.map((r) => r.id).sort())
  })
})
