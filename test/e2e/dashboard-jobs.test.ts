// The dashboard in headless Chromium, as an operator uses it: the overview, filtering the jobs, a job's
// page, cancel, requeue, a bulk requeue with its confirmation, dispatch pause and resume, a schedule
// paused; a hostile payload shown as text; every page free of console errors and of serious
// accessibility violations. With PULSE_SCREENSHOTS=1 the pages are saved as docs/screenshots/*.png.
import { mkdirSync } from 'node:fs'

import type pg from 'pg'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { every, JobQueue } from '../../actors/jobs/index.js'
import { NAV } from '../../dashboard/layout.js'
import { seriousA11yViolations, useBrowser } from '../helpers/browser.js'
import { createTestDatabase, filePool, type TestDatabase } from '../helpers/postgres.js'
import { redisUrl } from '../helpers/servers.js'
import { deadJobs } from '../integration/dashboard/job-fixtures.js'
import { type RunningServer, startServer } from '../integration/server/helpers.js'

const browser = useBrowser()
const kXss = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
let db: TestDatabase
let server: RunningServer
let queue: JobQueue
let pool: pg.Pool | undefined

beforeAll(async () => {
  db = await createTestDatabase()
  pool = filePool(db.url)
  queue = await JobQueue.connect({ pg: pool })
  await queue.enqueueMany(
    Array.from({ length: 5 }, (_, i) => ({ name: 'send-email', args: { to: `u${i}@example.com` } })),
  )
  await queue.defineSchedule('nightly-report', { days: 1 }, every(86_400_000))
  await runSomeJobs(db.url)
  server = await startServer({ DATABASE_URL: db.url, REDIS_URL: redisUrl() })
})

/** A worker completes 30 jobs and dead-letters 4, so that the overview has a history to show. */
async function runSomeJobs(url: string): Promise<void> {
  const worker = await JobQueue.connect({ pg: url })
  try {
    worker.register('resize-image', async () => {})
    worker.register('charge-card', () => Promise.reject(new Error('card declined')))
    await worker.enqueueMany([
      ...Array.from({ length: 30 }, (_, i) => ({ name: 'resize-image', args: { i } })),
      ...Array.from({ length: 4 }, (_, i) => ({ name: 'charge-card', args: { i }, maxAttempts: 1 })),
    ])
    let finished = 0
    const done = new Promise<void>((resolve) => {
      const onFinished = () => {
        if (++finished === 34) resolve()
      }
      worker.events.on('completed', onFinished)
      worker.events.on('dead', onFinished)
    })
    await worker.start()
    await done
  } finally {
    await worker.close()
  }
}

afterAll(async () => {
  await queue?.close()
  await pool?.end()
  expect(await server?.stop()).toBe(0)
  await db?.drop()
})

async function shot(page: Page, name: string): Promise<void> {
  if (process.env.PULSE_SCREENSHOTS !== '1') return
  mkdirSync('docs/screenshots', { recursive: true })
  await page.screenshot({ path: `docs/screenshots/${name}.png`, fullPage: true })
}

async function clickAndWait(page: Page, name: string): Promise<void> {
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name, exact: true }).click()])
}

describe('dashboard in Chromium', () => {
  it('every page of the navigation loads without console errors or serious accessibility violations', async () => {
    const { page, errors } = await browser.open()
    for (const item of NAV) {
      const response = await page.goto(`${server.url}/ui${item.path}`)
      expect(response?.status(), item.path).toBe(200)
      expect(await page.locator('h1').count(), item.path).toBe(1)
      expect(await seriousA11yViolations(page), item.path).toEqual([])
      await shot(page, `dashboard-${item.label.toLowerCase().replace(/\W+/g, '-')}`)
    }
    expect(errors).toEqual([])
  })

  it('filters the jobs by status and name, opens a job, and shows a hostile payload as text', async () => {
    const [dead] = await deadJobs(queue, 'render-pdf', 1, () => ({ title: kXss }))
    const { page, errors } = await browser.open()
    await page.goto(`${server.url}/ui/jobs`)
    await page.getByLabel('Status').selectOption('dead')
    await page.getByLabel('Name').fill('render-pdf')
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Search' }).click()])
    expect(page.url()).toContain('status=dead')
    const links = page.locator('tbody a')
    expect(await links.allTextContents()).toEqual([dead])
    await shot(page, 'dashboard-dead-letter')
    await Promise.all([page.waitForNavigation(), links.first().click()])
    expect(await page.textContent('main')).toContain(JSON.stringify(kXss).slice(1, -1))
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined()
    expect(await seriousA11yViolations(page)).toEqual([])
    await shot(page, 'dashboard-job')
    expect(errors).toEqual([])
  })

  it('cancels a job and requeues a dead one from their pages', async () => {
    const pending = await queue.enqueue('cancel-me', {})
    const [dead] = await deadJobs(queue, 'requeue-me', 1)
    const { page, errors } = await browser.open()
    await page.goto(`${server.url}/ui/jobs/${pending}`)
    await clickAndWait(page, 'Cancel job')
    await expect.poll(async () => (await queue.getJob(pending))?.status).toBe('canceled')
    expect(await page.getByRole('status').textContent()).toMatch(/cancel/i)
    await page.goto(`${server.url}/ui/jobs/${dead}`)
    await clickAndWait(page, 'Requeue job')
    expect((await queue.getJob(dead ?? ''))?.status).toBe('pending')
    const [entry] = await queue.auditLog({ limit: 1 })
    expect(entry).toMatchObject({ actor: 'anonymous', action: 'job.requeue' })
    expect(errors).toEqual([])
  })

  it('requeues every dead job of a filter after a confirmation with the count', async () => {
    const ids = await deadJobs(queue, 'bulk-dead', 3)
    const { page, errors } = await browser.open()
    await page.goto(`${server.url}/ui/jobs?status=dead&name=bulk-dead`)
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Requeue all matching…' }).click()])
    expect(await page.textContent('main')).toContain('3')
    expect(await seriousA11yViolations(page)).toEqual([])
    await shot(page, 'dashboard-bulk-confirm')
    await clickAndWait(page, 'Requeue 3 jobs')
    const statuses = (await queue.listJobs({ name: 'bulk-dead' })).jobs.map((j) => j.status)
    expect(statuses).toEqual(['pending', 'pending', 'pending'])
    expect(ids).toHaveLength(3)
    expect(errors).toEqual([])
  })

  it('pauses and resumes dispatch with a reason, and pauses a schedule', async () => {
    const { page, errors } = await browser.open()
    await page.goto(`${server.url}/ui/dispatch`)
    await page.getByLabel('Reason').fill('db maintenance')
    await clickAndWait(page, 'Pause dispatch')
    expect(await queue.dispatchStatus()).toMatchObject({ paused: true, reason: 'db maintenance' })
    expect(await page.textContent('main')).toContain('db maintenance')
    await shot(page, 'dashboard-dispatch-paused')
    await clickAndWait(page, 'Resume dispatch')
    expect((await queue.dispatchStatus()).paused).toBe(false)
    await page.goto(`${server.url}/ui/schedules`)
    await clickAndWait(page, 'Pause nightly-report')
    expect((await queue.listSchedules()).find((s) => s.name === 'nightly-report')?.paused).toBe(true)
    expect(await page.getByRole('button', { name: 'Resume nightly-report' }).count()).toBe(1)
    expect(errors).toEqual([])
  })
})
