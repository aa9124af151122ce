// `pulse server` as a whole (cli/server/pulse-server.ts): /healthz open and honest about a dependency
// that is down, /metrics behind auth with the job gauges, the bus API at /, TLS, the graceful stop, and
// the configuration errors that stop it from starting.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { JobQueue } from '../../../actors/jobs/index.js'
import { LocalRedis } from '../../../cli/local-servers/redis-server.js'
import { runPulse } from '../../helpers/cli.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { redisUrl } from '../../helpers/servers.js'
import { basic, startServer } from './helpers.js'

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase()
})
afterAll(async () => {
  await db?.drop()
})

describe('pulse server', () => {
  it('serves /healthz without credentials (each round trip), /metrics only with them', async () => {
    const queue = await JobQueue.connect({ pg: db.url })
    await queue.enqueueMany([
      { name: 'metrics-a', args: {} },
      { name: 'metrics-a', args: {} },
    ])
    await queue.close()
    const server = await startServer({ DATABASE_URL: db.url, REDIS_URL: redisUrl(), PULSE_AUTH_USERS: 'ops:pw' })
    try {
      const health = await fetch(`${server.url}/healthz`)
      expect(health.status).toBe(200)
      const body = (await health.json()) as { status: string; checks: Record<string, { ok: boolean; ms: number }> }
      expect(body.status).toBe('ok')
      expect(body.checks.postgres?.ok).toBe(true)
      expect(body.checks.redis?.ok).toBe(true)
      expect(body.checks.redis?.ms).toBeGreaterThanOrEqual(0)
      expect((await fetch(`${server.url}/metrics`)).status).toBe(401)
      const metrics = await fetch(`${server.url}/metrics`, { headers: basic('ops', 'pw') })
      expect(metrics.headers.get('content-type')).toMatch(/text\/plain/)
      const text = await metrics.text()
      expect(text).toMatch(/^pulse_jobs\{name="metrics-a",status="pending"\} 2$/m)
      expect(text).toMatch(/^pulse_jobs_oldest_waiting_seconds \d/m)
      expect(text).toMatch(/^process_cpu_user_seconds_total /m)
    } finally {
      expect(await server.stop()).toBe(0)
    }
  })

  it('answers /healthz 503 naming Redis while it is down, 200 once it is back', async () => {
    const redis = await LocalRedis.start()
    const server = await startServer({ DATABASE_URL: db.url, REDIS_URL: redis.url })
    try {
      await redis.stop()
      const down = await fetch(`${server.url}/healthz`)
      expect(down.status).toBe(503)
      const body = (await down.json()) as { status: string; down: string[]; checks: Record<string, { ok: boolean }> }
      expect(body).toMatchObject({ status: 'down', down: ['redis'] })
      expect(body.checks.postgres?.ok).toBe(true)
      await redis.start()
      let back = 0
      for (let i = 0; i < 100 && back !== 200; i++) back = (await fetch(`${server.url}/healthz`)).status
      expect(back).toBe(200)
    } finally {
      expect(await server.stop()).toBe(0)
      await redis.close()
    }
  })

  it('serves the bus API at / with the reference’s error texts', async () => {
    const server = await startServer({ REDIS_URL: redisUrl(), PULSE_BUS_NAMESPACES: 'srvbus' })
    try {
      const put = await fetch(`${server.url}/`, {
        method: 'POST',
        body: JSON.stringify({ subject: 'srvbus.created', payload: { n: 1 } }),
      })
      expect(put.status).toBe(202)
      expect(put.headers.get('x-bus-event-id')).toMatch(/^e_/)
      const bad = await fetch(`${server.url}/?subject=srvbus.`)
      expect(bad.status).toBe(400)
      expect(await bad.text()).toBe('subject should not ends with dot\n')
      const noJobs = await fetch(`${server.url}/api/v1/jobs`)
      expect(noJobs.status).toBe(404)
      expect(((await noJobs.json()) as { message: string }).message).toMatch(/jobs API is off/)
    } finally {
      expect(await server.stop()).toBe(0)
    }
  })

  it('serves HTTPS with PULSE_TLS_CERT and PULSE_TLS_KEY', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-tls-'))
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')]
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert].concat([
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
      ]),
      { stdio: 'ignore' },
    )
    const server = await startServer({
      DATABASE_URL: db.url,
      PULSE_TLS_CERT: cert,
      PULSE_TLS_KEY: readFileSync(key, 'utf8'),
    })
    try {
      expect(server.url).toMatch(/^https:/)
      const status = await new Promise<number | undefined>((resolve, reject) => {
        request(`${server.url}/healthz`, { ca: readFileSync(cert), checkServerIdentity: () => undefined }, (res) => {
          res.resume()
          resolve(res.statusCode)
        })
          .on('error', reject)
          .end()
      })
      expect(status).toBe(200)
    } finally {
      expect(await server.stop()).toBe(0)
    }
  })

  it('stops gracefully on SIGTERM: exit 0 after the stop lines', async () => {
    const server = await startServer({ DATABASE_URL: db.url })
    expect(await server.stop()).toBe(0)
    expect(server.lines).toContain('SIGTERM: stopping')
    expect(server.lines.at(-1)).toBe('stopped')
  })

  it('refuses to start without anything to serve, with a bad address or half a TLS pair (exit 1, one line)', async () => {
    const nothing = await runPulse(['server'])
    expect(nothing.code).toBe(1)
    expect(nothing.stderr).toMatch(/^pulse: PULSE_ERR_INVALID_ARG: nothing to serve/)
    const addr = await runPulse(['server', '--addr', 'localhost'], { env: { DATABASE_URL: db.url } })
    expect(addr).toMatchObject({ code: 1 })
    expect(addr.stderr).toMatch(/host:port/)
    const tls = await runPulse(['server'], { env: { DATABASE_URL: db.url, PULSE_TLS_CERT: '/nonexistent.pem' } })
    expect(tls.stderr).toMatch(/PULSE_TLS_KEY/)
    const users = await runPulse(['server'], { env: { DATABASE_URL: db.url, PULSE_AUTH_USERS: 'nopassword' } })
    expect(users).toMatchObject({ code: 1 })
    expect(users.stderr).toMatch(/PULSE_ERR_INVALID_ARG/)
    const unreachable = await runPulse(['server', '--database', 'postgres://u:p@127.0.0.1:1/x', '--timeout', '2s'])
    expect(unreachable.code).toBe(1)
    expect(unreachable.stderr.trim().split('\n')).toHaveLength(1)
    expect(unreachable.stderr).not.toContain(':p@')
  })
})
