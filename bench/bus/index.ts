// The bus benchmarks: in-process put → get events/s; HTTP publish requests/s (a concurrent keep-alive
// request loop — autocannon is not installed); publish → SSE delivery latency with 100 subscribers.
// Run: REDIS_URL=redis://127.0.0.1:6379 npm run bench:bus  (BUS_BENCH_SECONDS, default 5)
import { randomUUID } from 'node:crypto'
import { Agent, request } from 'node:http'
import type { IncomingMessage } from 'node:http'

import * as hdr from 'hdr-histogram-js'

import { Bus, BusServer, SseParser } from '../../actors/bus/index.js'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const seconds = Number(process.env.BUS_BENCH_SECONDS ?? 5)
const keyPrefix = `bench:bus:${randomUUID().slice(0, 8)}:`
const bus = await Bus.connect(url, { namespaces: ['a', 'b', 'c'], keyPrefix })

// 1. In-process put → get: 8 concurrent publishers, one subscriber counts.
{
  const sub = bus.get('a.>')
  await sub.ready
  let received = 0
  const reading = (async () => {
    for await (const _ of sub) if (++received < 0) break
  })()
  const end = Date.now() + seconds * 1000
  let sent = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (Date.now() < end) {
      await bus.put('a.x', '{"n":1}')
      sent++
    }
  }))
  while (received < sent) await new Promise((resolve) => setTimeout(resolve, 5))
  console.log(`in-process put → get: ${Math.round(sent / seconds)} events/s (8 publishers, 1 subscriber)`)
  await sub.return()
  await reading
}

const server = await BusServer.listen({ bus, port: 0 })
const agent = new Agent({ keepAlive: true, maxSockets: 64 })
const post = (body: string) =>
  new Promise<void>((resolve, reject) => {
    const req = request(`${server.url}/`, { method: 'POST', agent }, (res) => {
      res.resume()
      res.on('end', () => (res.statusCode === 202 ? resolve() : reject(new Error(`status ${res.statusCode}`))))
    })
    req.on('error', reject)
    req.end(body)
  })

// 2. HTTP publish requests/s: 64 connections in a loop.
{
  const end = Date.now() + seconds * 1000
  let done = 0
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (Date.now() < end) {
      await post('{"subject":"b.x","payload":{"n":1}}')
      done++
    }
  }))
  console.log(`HTTP publish: ${Math.round(done / seconds)} requests/s (64 keep-alive connections, node:http loop)`)
}

// 3. Publish → SSE delivery latency, 100 subscribers on c.>, one publisher at ~200 events/s.
{
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 })
  const streams = await Promise.all(Array.from({ length: 100 }, () => new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(`${server.url}/?subject=c.>`, { agent: false }, resolve)
    req.on('error', reject)
    req.end()
  })))
  for (const res of streams) {
    const parser = new SseParser()
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => parser.push(chunk, (m) => {
      if (m.event !== 'msg') return
      const sentAt = Number((JSON.parse(m.data) as { payload: { t: number } }).payload.t)
      histogram.recordValue(Math.max(1, Math.round((performance.timeOrigin + performance.now()) * 1000 - sentAt)))
    }))
  }
  const end = Date.now() + seconds * 1000
  let sent = 0
  while (Date.now() < end) {
    await post(`{"subject":"c.x","payload":{"t":${Math.round((performance.timeOrigin + performance.now()) * 1000)}}}`)
    sent++
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  while (histogram.totalCount < sent * 100) await new Promise((resolve) => setTimeout(resolve, 10))
  console.log(`publish → SSE delivery, 100 subscribers: p50 ${(histogram.getValueAtPercentile(50) / 1000).toFixed(2)} ms, p99 ${(histogram.getValueAtPercentile(99) / 1000).toFixed(2)} ms over ${histogram.totalCount} deliveries`)
  for (const res of streams) res.destroy()
}

agent.destroy()
await server.close()
await bus.close()
