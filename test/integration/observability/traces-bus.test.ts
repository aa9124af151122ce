/**
 * The bus's spans with a real SDK: `send <subject>` (PRODUCER) per put in the caller's context, its
 * context in the entry's `x` field (not in the record, whose `trace_id` stays the publisher's), and
 * `process <subject>` (CONSUMER) per delivery to a `get` subscription, linked to the put.
 */
import { trace } from '@opentelemetry/api'
import { afterEach, describe, expect, it } from 'vitest'

import { useRawRedis } from '../../helpers/redis.js'
import { Opened, take } from '../bus/helpers.js'
import { expectLinkedProcess, expectSendSpan, sameSpan, useTraceSdk } from './trace-sdk.js'

const sdk = useTraceSdk()
const raw = useRawRedis()
let opened = new Opened()

afterEach(async () => {
  await opened.close()
  opened = new Opened()
})

describe('bus traces', () => {
  it('links a delivery to the put, whose context the entry carries beside the publisher trace_id', async () => {
    const bus = await opened.bus()
    const sub = bus.get('a.*', { start: 'oldest' })
    const { result, span: parent } = await sdk.inSpan('request', () =>
      bus.put('a.created', { name: 'ada' }, { traceId: 'req-7' }),
    )

    const send = await expectSendSpan(sdk, 'send a.created', parent, 'a.created', result.id)
    const [entry] = await raw.xrange(bus.keys.log('a'), '-', '+')
    const fields = entry?.[1] ?? []
    const { traceId, spanId } = send.spanContext()
    expect(fields.filter((_, i) => i % 2 === 0)).toEqual(['i', 's', 'c', 't', 'p', 'x'])
    expect(JSON.parse(fields[fields.indexOf('x') + 1] ?? '')).toEqual({ traceparent: `00-${traceId}-${spanId}-01` })

    const [event] = await take(sub, 1)
    expect(event?.traceId).toBe('req-7')
    expect(event?.record).not.toContain('traceparent')
    await sub.return()
    const process = await sdk.span('process a.created')
    expectLinkedProcess(process, send)
    expect(process.attributes).toEqual({
      'messaging.system': 'pulse',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'a.created',
      'messaging.destination.template': 'a.*',
      'messaging.message.id': result.id,
    })
  })

  it('makes one send span per batch put; a delivery span ends when the next event is asked for', async () => {
    const bus = await opened.bus()
    const sub = bus.get('a.>', { start: 'oldest' })
    await bus.put([
      { subject: 'a.x', payload: 1 },
      { subject: 'a.y', payload: 2 },
    ])
    const send = await sdk.span('send')
    expect(send.attributes).toMatchObject({ 'messaging.batch.message_count': 2 })
    expect(send.attributes['messaging.destination.name']).toBeUndefined()

    await take(sub, 1)
    expect((await sdk.spans()).map((s) => s.name)).toEqual(['send'])
    await take(sub, 1)
    expect((await sdk.spans()).map((s) => s.name)).toEqual(['send', 'process a.x'])
    await sub.return()
    const processes = (await sdk.spans()).filter((s) => s.name.startsWith('process'))
    expect(processes.map((s) => s.name)).toEqual(['process a.x', 'process a.y'])
    for (const span of processes) expect(sameSpan(span.links[0]?.context, send.spanContext())).toBe(true)
  })

  it('links an event that carries no trace context to a W3C traceparent in its trace_id', async () => {
    const bus = await opened.bus()
    const sub = bus.get('a.x', { start: 'oldest' })
    const upstream = trace.getTracer('test').startSpan('elsewhere')
    upstream.end()
    const { traceId, spanId } = upstream.spanContext()
    // As a publisher without Pulse's field writes it (a Go service of the reference, say).
    await raw.xadd(
      bus.keys.log('a'),
      '*',
      'i',
      'e_external',
      's',
      'a.x',
      'c',
      '2026-01-01T00:00:00Z',
      't',
      `00-${traceId}-${spanId}-01`,
    )
    const [event] = await take(sub, 1)
    expect(event?.id).toBe('e_external')
    await sub.return()
    const process = await sdk.span('process a.x')
    expect(sameSpan(process.links[0]?.context, upstream.spanContext())).toBe(true)
  })
})
