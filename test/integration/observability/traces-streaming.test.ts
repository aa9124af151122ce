/**
 * The streaming feature's spans with a real SDK: `send <stream>` (PRODUCER) per add in the caller's
 * context, its context in the entry's `x` field, and `process <stream>` (CONSUMER) per event a sink's or
 * reader's subscription takes, linked to the add and ended when the subscription moves on.
 */
import { afterEach, describe, expect, it } from 'vitest'

import { Stream } from '../../../actors/streaming/index.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { Opened, take } from '../streaming/helpers.js'
import { expectLinkedProcess, expectSendSpan, sameSpan, useTraceSdk } from './trace-sdk.js'

const sdk = useTraceSdk()
const raw = useRawRedis()
let opened = new Opened()

afterEach(async () => {
  await opened.close(raw)
  opened = new Opened()
})

describe('stream traces', () => {
  it('links a sink delivery to the add, whose context the entry carries', async () => {
    const stream = opened.add(new Stream(redisUrl(), opened.name('orders')))
    const sink = opened.add(await stream.newSink(opened.name('billing'), { start: 'oldest' }))
    const { result: id, span: parent } = await sdk.inSpan('request', () =>
      stream.add('placed', '{"order":1}', { topic: 'eu' }),
    )

    const send = await expectSendSpan(sdk, `send ${stream.name}`, parent, stream.name, id as string)
    const [entry] = await raw.xrange(stream.key, '-', '+')
    const fields = entry?.[1] ?? []
    const { traceId, spanId } = send.spanContext()
    expect(fields).toEqual(['n', 'placed', 'p', '{"order":1}', 't', 'eu', 'x', expect.any(String)])
    expect(JSON.parse(fields[7] ?? '')).toEqual({ traceparent: `00-${traceId}-${spanId}-01` })

    // The span of a delivery ends when its subscription moves on: here, when it leaves.
    const subscription = sink.subscribe()
    const [event] = await take(subscription, 1)
    expect(event?.id).toBe(id)
    await sink.ack(event!)
    expect((await sdk.spans()).filter((s) => s.name.startsWith('process'))).toEqual([])
    await subscription.return()

    const process = await sdk.span(`process ${stream.name}`)
    expectLinkedProcess(process, send)
    expect(process.attributes).toEqual({
      'messaging.system': 'pulse',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': stream.name,
      'messaging.message.id': id,
      'messaging.consumer.group.name': sink.name,
    })
  })

  it('makes one send span per addMany and links each reader delivery to it', async () => {
    const stream = opened.add(new Stream(redisUrl(), opened.name('events')))
    const reader = opened.add(await stream.newReader({ start: 'oldest' }))
    const ids = await stream.addMany([
      { name: 'a', payload: '1' },
      { name: 'b', payload: '2' },
    ])
    const send = await sdk.span(`send ${stream.name}`)
    expect(send.attributes).toMatchObject({ 'messaging.batch.message_count': 2 })
    expect(send.attributes['messaging.message.id']).toBeUndefined()

    const subscription = reader.subscribe()
    const events = await take(subscription, 2)
    expect(events.map((e) => e.id)).toEqual(ids)
    // Taking the second event moved on from the first: its span ended; the second's ends on leaving.
    await subscription.return()
    const processes = (await sdk.spans()).filter((s) => s.name === `process ${stream.name}`)
    expect(processes.map((s) => s.attributes['messaging.message.id'])).toEqual(ids)
    for (const span of processes) {
      expect(sameSpan(span.links[0]?.context, send.spanContext())).toBe(true)
      expect(span.attributes['messaging.consumer.group.name']).toBeUndefined()
    }
  })
})
