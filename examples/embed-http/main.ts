// The order service of service.ts, run once: start it on a free port, set a price, read it, send a few
// orders (and a bad and an oversized one), wait until the workers completed them, close.
// Run: REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://… npx tsx examples/embed-http/main.ts
import assert from 'node:assert/strict'

import pg from 'pg'
import type { JobQueue } from 'pulse-runtime/jobs'

import { kMaxBodyBytes, startService } from './service.js'

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
// A schema and a map of this run's own, removed at the end (a deployment keeps 'pulse' and 'prices').
const schema = `example_embed_http_${process.pid}`
const map = `example-embed-http-${process.pid}`

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, init)
  return { status: res.status, body: await res.json() }
}

function post(url: string, body: string): Promise<{ status: number; body: unknown }> {
  return call(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
}

/** Polls each job until it is completed, for at most `timeoutMs`. */
async function waitCompleted(jobs: JobQueue, ids: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (const id of ids) {
    for (;;) {
      const job = await jobs.getJob(id)
      if (job?.status === 'completed') break
      if (Date.now() > deadline) throw new Error(`job ${id} is ${job?.status ?? 'missing'} after ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

async function dropSchema(): Promise<void> {
  const admin = new pg.Client({ connectionString: databaseUrl })
  await admin.connect()
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await admin.end()
}

const service = await startService({ redisUrl, databaseUrl, port: 0, schema, map })
try {
  // setAndWait returns once this process's copy holds the price: the GET below sees it.
  await service.prices.setAndWait('tea-green', '4.20')
  assert.deepEqual(await call(`${service.url}/prices/tea-green`), {
    status: 200,
    body: { sku: 'tea-green', price: 4.2 },
  })
  assert.equal((await call(`${service.url}/prices/tea-black`)).status, 404)

  assert.equal((await post(`${service.url}/orders`, '{"sku":"tea-green"')).status, 400, 'not JSON')
  assert.equal((await post(`${service.url}/orders`, '{"sku":"tea-green","quantity":0}')).status, 400)
  assert.equal((await post(`${service.url}/orders`, '{"sku":"tea-black","quantity":1}')).status, 400, 'no price')
  const oversized = JSON.stringify({ sku: 'tea-green', quantity: 1, note: 'x'.repeat(kMaxBodyBytes) })
  assert.equal((await post(`${service.url}/orders`, oversized)).status, 413)

  const ids: string[] = []
  for (const quantity of [1, 2, 3]) {
    const { status, body } = await post(`${service.url}/orders`, JSON.stringify({ sku: 'tea-green', quantity }))
    assert.equal(status, 202)
    ids.push((body as { id: string }).id)
  }
  console.log(`accepted orders ${ids.join(', ')}`)

  await waitCompleted(service.jobs, ids, 10_000)
  // The handlers' increments reach this process's copy one pub/sub hop after Redis ran them.
  const deadline = Date.now() + 5_000
  while (service.prices.get('sold:tea-green') !== '6' && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20))
  assert.equal(service.prices.get('sold:tea-green'), '6')
  console.log('orders completed; units sold:', service.prices.get('sold:tea-green'))
  await service.prices.destroy()
} finally {
  await service.close()
  await dropSchema()
}
