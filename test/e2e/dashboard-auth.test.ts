// The dashboard in headless Chromium with auth on: sign-in required, a wrong password refused, a
// read-only user refused an action, sign-out; no console errors; no serious accessibility violations.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { JobQueue } from '../../actors/jobs/index.js'
import { seriousA11yViolations, signIn, useBrowser } from '../helpers/browser.js'
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js'
import { type RunningServer, startServer } from '../integration/server/helpers.js'

const browser = useBrowser()
let db: TestDatabase
let server: RunningServer

beforeAll(async () => {
  db = await createTestDatabase()
  const queue = await JobQueue.connect({ pg: db.url })
  await queue.enqueue('e2e-auth', {})
  await queue.close()
  server = await startServer({ DATABASE_URL: db.url, PULSE_AUTH_USERS: 'ops:s3cret,viewer:look:ro' })
})

afterAll(async () => {
  expect(await server?.stop()).toBe(0)
  await db?.drop()
})

describe('dashboard sign-in', () => {
  it('requires signing in, refuses a wrong password, then shows the overview', async () => {
    const { page, errors } = await browser.open()
    await page.goto(`${server.url}/ui/`)
    expect(new URL(page.url()).pathname).toBe('/ui/login')
    expect(await seriousA11yViolations(page)).toEqual([])
    await signIn(page, 'ops', 'wrong')
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Wrong user or password')
    await signIn(page, 'ops', 's3cret')
    expect(new URL(page.url()).pathname).toBe('/ui/')
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Overview')
    expect(await page.textContent('body')).toContain('e2e-auth')
    expect(await seriousA11yViolations(page)).toEqual([])
    const cookies = await page.context().cookies()
    expect(cookies.find((c) => c.name === 'pulse_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' })
    expect(errors).toEqual([])
  })

  it('signs out', async () => {
    const { page, errors } = await browser.open()
    await page.goto(`${server.url}/ui/`)
    await signIn(page, 'ops', 's3cret')
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign out' }).click()])
    expect(new URL(page.url()).pathname).toBe('/ui/login')
    await page.goto(`${server.url}/ui/`)
    expect(new URL(page.url()).pathname).toBe('/ui/login')
    expect(errors).toEqual([])
  })

  it('shows a read-only user as such and refuses their actions with 403', async () => {
    const { page } = await browser.open()
    await page.goto(`${server.url}/ui/`)
    await signIn(page, 'viewer', 'look')
    expect(await page.textContent('header')).toContain('viewer (read-only)')
    const token = await page.getAttribute('meta[name="csrf-token"]', 'content')
    const status = await page.evaluate(async (csrf) => {
      const res = await fetch('/ui/dispatch/pause', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRF-Token': csrf ?? '' },
        body: 'reason=nope',
      })
      return res.status
    }, token)
    expect(status).toBe(403)
  })
})
