/**
 * The job queue's spans with a real SDK: `send <name>` (PRODUCER) in the enqueuer's context, its
 * context stored with the job (a W3C `traceparent` alone as its 25 bytes, `trace_parent`; any other
 * carrier as JSON, `trace_context`, as rows written before migration 13 hold it too), and
 * `process <name>` (CONSUMER) per attempt, linked to the send, with the handler running inside it; a
 * failed attempt records `error.type` and ERROR.
 */
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { describe, expect, it } from 'vitest'

import { kJobQueueInternals } from '../../../actors/jobs/internal.js'
import { nextEvents } from '../../fixtures/jobs/execution-support.js'
import { compactOf, storedTrace, useQueueDatabase } from './job-trace-store.js'
import { expectLinkedProcess, expectSendSpan, sameSpan, useTraceSdk } from './trace-sdk.js'

const sdk = useTraceSdk()
const tracedJob = new URL('../../fixtures/jobs/traced-job.ts', import.meta.url)
const withQueue = useQueueDatabase()

describe('job traces', () => {
  it('links each attempt to the enqueue, runs the handler inside it, and records a failure', async () => {
    await withQueue(async (queue) => {
      queue.register('email', (_args, job) => {
        trace.getTracer('test').startSpan(`inner ${job.attempt}`).end()
        if (job.attempt === 1) throw Object.assign(new Error('smtp down'), { code: 'ESMTP' })
      })
      await queue.start({ concurrency: 2 })
      const completed = nextEvents(queue, 'completed', 1, (e) => e.name === 'email')
      const { result: id, span: parent } = await sdk.inSpan('request', () => queue.enqueue('email', { to: 'a' }))
      await completed

      const send = await expectSendSpan(sdk, 'send email', parent, 'email', id)
      const { traceId } = send.spanContext()
      expect(await storedTrace(queue, id)).toEqual(compactOf(send))

      const attempts = (await sdk.spans()).filter((s) => s.name === 'process email')
      expect(attempts.map((s) => s.attributes['pulse.job.attempt'])).toEqual([1, 2])
      for (const attempt of attempts) {
        expectLinkedProcess(attempt, send)
        expect(attempt.spanContext().traceId).not.toBe(traceId)
        expect(attempt.attributes).toMatchObject({
          'messaging.system': 'pulse',
          'messaging.operation.type': 'process',
          'messaging.destination.name': 'email',
          'messaging.message.id': id,
        })
        const inner = await sdk.span(`inner ${String(attempt.attributes['pulse.job.attempt'])}`)
        expect(sameSpan(inner.parentSpanContext, attempt.spanContext())).toBe(true)
      }
      const [failed, succeeded] = attempts as [(typeof attempts)[0], (typeof attempts)[0]]
      expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'smtp down' })
      expect(failed.attributes['error.type']).toBe('ESMTP')
      expect(failed.events.map((e) => e.name)).toEqual(['exception'])
      expect(succeeded.status.code).toBe(SpanStatusCode.UNSET)
      expect(succeeded.attributes['error.type']).toBeUndefined()
    })
  })

  it('makes one send span per enqueueMany, with the batch count; several names make it `send`', async () => {
    await withQueue(async (queue) => {
      const same = await queue.enqueueMany([
        { name: 'a', args: 1 },
        { name: 'a', args: 2 },
        { name: 'a', args: 3 },
      ])
      const mixed = await queue.enqueueMany([
        { name: 'a', args: 1 },
        { name: 'b', args: 2 },
      ])
      const spans = await sdk.spans()
      expect(spans.map((s) => s.name).sort()).toEqual(['send', 'send a'])
      const batch = await sdk.span('send a')
      expect(batch.kind).toBe(SpanKind.PRODUCER)
      expect(batch.attributes).toMatchObject({ 'messaging.batch.message_count': 3, 'messaging.destination.name': 'a' })
      expect(batch.attributes['messaging.message.id']).toBeUndefined()
      const several = await sdk.span('send')
      expect(several.attributes['messaging.batch.message_count']).toBe(2)
      expect(several.attributes['messaging.destination.name']).toBeUndefined()
      for (const [span, ids] of [
        [batch, same],
        [several, mixed],
      ] as const) {
        for (const id of ids) expect(await storedTrace(queue, id)).toEqual(compactOf(span))
      }
    })
  })

  it("runs a thread handler in the attempt's context, as the thread's own propagator reads it", async () => {
    await withQueue(async (queue) => {
      queue.register('threaded', undefined, { thread: { module: tracedJob, export: 'reportSpan' } })
      await queue.start({ concurrency: 1, handlerPool: { minThreads: 1, maxThreads: 1 } })
      const dead = nextEvents(queue, 'dead', 1, (e) => e.name === 'threaded')
      await queue.enqueue('threaded', null, { maxAttempts: 1 })
      const [event] = await dead
      const process = await sdk.span('process threaded')
      const { traceId, spanId } = process.spanContext()
      expect(event?.error.message).toBe(`active ${traceId}-${spanId}`)
      expect(process.attributes['error.type']).toBe('Error')
    })
  })

  it('ends the send span with the error when the insert fails', async () => {
    await withQueue(async (queue) => {
      const pool = queue[kJobQueueInternals].pool.pool
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        await client.query('SELECT 1/0').catch(() => undefined)
        const error = (await queue.enqueue('c', null, { client }).catch((e: unknown) => e)) as { code?: string }
        expect(error.code).toMatch(/^PULSE_ERR_/)
        await client.query('ROLLBACK')
        const send = await sdk.span('send c')
        expect(send.status.code).toBe(SpanStatusCode.ERROR)
        expect(send.attributes['error.type']).toBe(error.code)
      } finally {
        client.release()
      }
    })
  })
})
