/**
 * Headless Chromium (Debian's `chromium`, installed by `npm run setup`) driven by playwright-core, for
 * the dashboard's end-to-end tests: a browser per file, a fresh context per test, every console error
 * and page error collected, and an axe-core accessibility check of a page.
 */
import { createRequire } from 'node:module'

import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll } from 'vitest'

const require = createRequire(import.meta.url)
export const kChromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

// The flags of a closed network: no background requests, no component updates, no first-run UI.
const kArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
]

export interface BrowserPage {
  readonly page: Page
  /** Console errors and uncaught page errors seen so far. */
  readonly errors: string[]
}

/** A browser for the file's tests; `open()` gives a page in a fresh context (no cookies). */
export function useBrowser(): { open(): Promise<BrowserPage> } {
  let browser: Browser | undefined
  const contexts: BrowserContext[] = []
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: kChromium, args: kArgs, headless: true })
  }, 60_000)
  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close()
  })
  afterAll(async () => {
    await browser?.close()
  })
  return {
    async open() {
      if (browser === undefined) throw new Error('useBrowser: the browser starts in beforeAll')
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
      contexts.push(context)
      const page = await context.newPage()
      const errors: string[] = []
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text())
      })
      page.on('pageerror', (error) => errors.push(error.message))
      return { page, errors }
    },
  }
}

interface AxeViolation {
  id: string
  impact: string | null
  help: string
  nodes: { target: string[] }[]
}

/** axe-core's serious and critical violations on the page, as `id: help (targets)` lines. */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  // Injected through the CDP, not a <script> tag: the page's CSP allows only its own scripts.
  const source = (await import('node:fs')).readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')
  await page.evaluate(source)
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: AxeViolation[] }> } }).axe
    return (await axe.run()).violations
  })
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
}

/** Signs in through the form at `url` (the sign-in page) and waits for the page it leads to. */
export async function signIn(page: Page, user: string, password: string): Promise<void> {
  await page.getByLabel('User').fill(user)
  await page.getByLabel('Password').fill(password)
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()])
}
