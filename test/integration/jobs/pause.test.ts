/**
 * Dispatch pause: durable, claims stop, submits land, running jobs finish, status and resume, and a
 * pause that survives a new connect (docs/jobs-scenarios.md, scenarios 28, 29, 31).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { claimJobs, completeJobs } from '../../../transports/postgres/jobs/hot-path.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { uniqueName, withClients, withQueue } from './helpers.js'

let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db.drop()
})

const claimOptions = (names: string[], limit = 10) => ({ owner: 'test', names, limit, leaseTtlMs: 30_000 })

describe('pauseDispatch', () => {
  it('stops claims on every connection while enqueues and running jobs go on (scenario 28)', async () => {
    await withQueue(
      db.url,
      async (queue, { db: sql, q }) => {
        const name = uniqueName('paused')
        await queue.enqueue(name, 'before')
        const [running] = await claimJobs(sql, q, claimOptions([name], 1))
        expect(running).toBeDefined()
        const ready = await queue.enqueue(name, 'ready')

        await queue.pauseDispatch('maintenance')
        const submitted = await queue.enqueue(name, 'while paused')
        expect((await queue.getJob(submitted))?.status).toBe('pending')
        // No replica (connection) claims anything.
        await withClients(db.url, 3, async (clients) => {
          for (const client of clients) expect(await claimJobs(client, q, claimOptions([name]))).toEqual([])
        })
        // The running job still completes.
        expect(await completeJobs(sql, q, running === undefined ? [] : [running])).toEqual([running?.id])

        await queue.resumeDispatch()
        const claimed = await claimJobs(sql, q, claimOptions([name]))
        expect(claimed.map((j) => j.id).sort()).toEqual([ready, submitted].sort())
      },
      { schema: uniqueName('pause') },
    )
  })

  it('reports paused, reason and pausedAt; resume clears the reason and keeps pausedAt (scenario 31)', async () => {
    await withQueue(
      db.url,
      async (queue, { db: sql, q }) => {
        expect(await queue.dispatchStatus()).toEqual({ paused: false, reason: undefined, pausedAt: undefined })
        const before = Date.now()
        const paused = await queue.pauseDispatch('db maintenance')
        expect(paused).toEqual({ paused: true, reason: 'db maintenance', pausedAt: expect.any(Date) as Date })
        expect(paused.pausedAt?.getTime()).toBeGreaterThanOrEqual(before - 1_000)
        expect(await queue.dispatchStatus()).toEqual(paused)

        // Pausing again updates the reason and keeps when it was paused.
        const again = await queue.pauseDispatch('still maintaining')
        expect(again).toEqual({ paused: true, reason: 'still maintaining', pausedAt: paused.pausedAt })

        // The backlog, enqueued while paused, drains in priority order after resume.
        const name = uniqueName('backlog')
        const b = await queue.enqueue(name, 'B', { priority: 0 })
        const a = await queue.enqueue(name, 'A', { priority: 5 })
        const c = await queue.enqueue(name, 'C', { priority: 5 })
        const d = await queue.enqueue(name, 'D', { priority: -5 })

        const resumed = await queue.resumeDispatch()
        expect(resumed).toEqual({ paused: false, reason: undefined, pausedAt: paused.pausedAt })
        expect(await queue.dispatchStatus()).toEqual(resumed)
        const order: string[] = []
        for (;;) {
          const [job] = await claimJobs(sql, q, claimOptions([name], 1))
          if (job === undefined) break
          order.push(job.id)
        }
        expect(order).toEqual([a, c, b, d])

        // A pause without a reason.
        expect(await queue.pauseDispatch()).toMatchObject({ paused: true, reason: undefined })
        await expect(queue.pauseDispatch(7 as unknown as string)).rejects.toMatchObject({
          code: 'PULSE_ERR_INVALID_ARG',
          data: { option: 'reason' },
        })
      },
      { schema: uniqueName('pause') },
    )
  })

  it('survives a new JobQueue.connect: a queue booted while paused claims nothing (scenario 29)', async () => {
    const schema = uniqueName('pause')
    const name = uniqueName('boot')
    const pausedAt = await withQueue(
      db.url,
      async (queue) => {
        await queue.enqueue(name, {})
        return (await queue.pauseDispatch('across restarts')).pausedAt
      },
      { schema },
    )
    await withQueue(
      db.url,
      async (queue, { db: sql, q }) => {
        expect(await queue.dispatchStatus()).toEqual({ paused: true, reason: 'across restarts', pausedAt })
        expect(await claimJobs(sql, q, claimOptions([name]))).toEqual([])
        await queue.resumeDispatch()
        expect(await claimJobs(sql, q, claimOptions([name]))).toHaveLength(1)
      },
      { schema },
    )
  })
})
