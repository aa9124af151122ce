import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from 'vitest'

import { PULSE_MIGRATIONS } from '../../../transports/postgres/index.js'
import { spawnTs } from '../../helpers/child.js'

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

const dir = mkdtempSync(join(tmpdir(), 'pulse-dev-test-'))
// As root the cluster belongs to the postgres user, which must be able to reach the folder.
chmodSync(dir, 0o755)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function devEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.REDIS_URL
  delete env.DATABASE_URL
  env.PULSE_HTTP_ADDR = '127.0.0.1:0'
  return env
}

async function runDevUntilHealthy() {
  const child = spawnTs('cli/main.ts', ['dev', '--dir', dir, '--status-every', '500ms'], devEnv())
  const health = await child.waitForLine(/^healthy:/, 60_000)
  const port = (name: string) =>
    Number(new RegExp(`^${name}:\\s+\\S+:(\\d+)`).exec(child.lines.find((l) => l.startsWith(`${name}:`)) ?? '')?.[1])
  return { child, health, redisPort: port('redis'), pgPort: port('postgres') }
}

describe('pulse dev (npm start)', () => {
  it('starts embedded Redis + PostgreSQL and every feature, reports health and status, stops cleanly on Ctrl-C and keeps its data', async () => {
    const first = await runDevUntilHealthy()
    expect(first.health).toMatch(/redis PING [\d.]+ ms, postgres SELECT 1 [\d.]+ ms, schema pulse/)
    expect(first.health).toContain(`(${PULSE_MIGRATIONS.length} migrations applied now)`)
    expect(await portOpen(first.redisPort)).toBe(true)
    expect(await portOpen(first.pgPort)).toBe(true)
    await first.child.waitForLine(/^workload: jobs demo:greet, stream dev-events/)
    // Every feature at work: jobs handled, stream events read by the sink, 4 pool jobs on 2 workers, the
    // map's keys written, bus events read.
    await first.child.waitForLine(
      /^status: jobs [1-9]\d* handled .*stream [1-9]\d* events read, pool 4 jobs running, map 3 keys, bus [1-9]\d* events$/,
      30_000,
    )
    const dashboard = await first.child.waitForLine(/^dashboard: http:\/\/127\.0\.0\.1:\d+\/ui\/$/)
    const page = await fetch(dashboard.slice('dashboard: '.length), { headers: { Accept: 'text/html' } })
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('demo:greet')
    first.child.process.kill('SIGINT')
    expect(await first.child.exited).toBe(0)
    expect(first.child.lines).toContain('stopped')
    expect(await portOpen(first.redisPort)).toBe(false)
    expect(await portOpen(first.pgPort)).toBe(false)

    const second = await runDevUntilHealthy()
    expect(second.health).toMatch(/\(0 migrations applied now\)/)
    // The pool's jobs of the first run are kept (and run again), not dispatched twice.
    await second.child.waitForLine(/^status: .*pool 4 jobs running/, 30_000)
    second.child.process.kill('SIGTERM')
    expect(await second.child.exited).toBe(0)
  }, 120_000)

  it('exits 2 on a usage error, of the program and of a subcommand', async () => {
    const child = spawnTs('cli/main.ts', ['no-such-command'])
    expect(await child.exited).toBe(2)
    const sub = spawnTs('cli/main.ts', ['supervise']) // its config argument is missing
    expect(await sub.exited).toBe(2)
  })
})
