/**
 * Where a job keeps its enqueue's trace context, for every insert statement: a W3C `traceparent` alone
 * as its 25 bytes (`trace_parent`, migration 13), another carrier (a `tracestate` too) as JSON
 * (`trace_context`, migration 11); and a row that holds the JSON form, as rows written before
 * migration 13 do, still links its attempts to the producer.
 */
import { context, createTraceState, trace, TraceFlags } from '@opentelemetry/api'
import { describe, expect, it } from 'vitest'

import { kJobQueueInternals } from '../../../actors/jobs/internal.js'
import { nextEvents } from '../../fixtures/jobs/execution-support.js'
import { compactOf, storedTrace, useQueueDatabase } from './job-trace-store.js'
import { expectLinkedProcess, useTraceSdk } from './trace-sdk.js'

const sdk = useTraceSdk()
const withQueue = useQueueDatabase()

/** The one ended span named `name` whose message id is `id` (a single enqueue's send). */
async function sendOf(name: string, id: string) {
  const found = (await sdk.spans()).filter((s) => s.name === name && s.attributes['messaging.message.id'] === id)
  expect(found).toHaveLength(1)
  return found[0] as (typeof found)[0]
}

const kRemote = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', isRemote: true }

describe('job trace storage', () => {
  it('stores each compactly: concurrent enqueues, options, idempotency keys', async () => {
    await withQueue(async (queue) => {
      const one = (args: number, options = {}) =>
        sdk.inSpan(`request ${args}`, () => queue.enqueue('s', args, options)).then((r) => r.result)
      // The first call goes at once, the others of each group leave together in the next statement.
      const plain = await Promise.all([one(1), one(2), one(3)])
      const ids = [...plain, ...(await Promise.all([one(4), one(5, { priority: 2 }), one(6, { idempotencyKey: 'k' })]))]
      for (const id of ids) expect(await storedTrace(queue, id)).toEqual(compactOf(await sendOf('send s', id)))
      const many = await queue.enqueueMany([
        { name: 's', args: 7, priority: 1 },
        { name: 's', args: 8, idempotencyKey: 'k8' },
      ])
      const batch = (await sdk.spans()).find(
        (s) => s.name === 'send s' && s.attributes['messaging.batch.message_count'] === 2,
      )
      for (const id of many) expect(await storedTrace(queue, id)).toEqual(compactOf(batch as NonNullable<typeof batch>))
    })
  })

  it('stores a carrier with a tracestate as JSON, and links its attempt to the send', async () => {
    await withQueue(async (queue) => {
      queue.register('ts', () => undefined)
      await queue.start({ concurrency: 1 })
      const completed = nextEvents(queue, 'completed', 1, (e) => e.name === 'ts')
      const parent = trace.setSpanContext(context.active(), {
        ...kRemote,
        traceFlags: TraceFlags.SAMPLED,
        traceState: createTraceState('vendor=v1'),
      })
      const id = await context.with(parent, () => queue.enqueue('ts', null))
      await completed
      const send = await sendOf('send ts', id)
      const { traceId, spanId } = send.spanContext()
      expect(await storedTrace(queue, id)).toEqual({
        parent: null,
        json: { traceparent: `00-${traceId}-${spanId}-01`, tracestate: 'vendor=v1' },
      })
      expectLinkedProcess(await sdk.span('process ts'), send)
    })
  })

  it('links the attempt of a row that holds the JSON form (written before migration 13)', async () => {
    await withQueue(async (queue) => {
      queue.register('old', () => undefined)
      const completed = nextEvents(queue, 'completed', 1, (e) => e.name === 'old')
      const carrier = { traceparent: `00-${kRemote.traceId}-${kRemote.spanId}-01` }
      await queue[kJobQueueInternals].pool.pool.query(
        "INSERT INTO pulse.jobs (name, args, trace_context) VALUES ('old', 'null', $1::jsonb)",
        [JSON.stringify(carrier)],
      )
      await queue.start({ concurrency: 1 })
      await completed
      const process = await sdk.span('process old')
      expect(process.links).toHaveLength(1)
      expect(process.links[0]?.context).toMatchObject({ traceId: kRemote.traceId, spanId: kRemote.spanId })
    })
  })
})
