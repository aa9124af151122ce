/**
 * `npm run bench:bus`: the bus figures of issue 8, side by side in one run on one redis-server (started
 * by the bench unless REDIS_URL is set), each next to a raw baseline measured in the same round:
 *
 *   1. in-process put → get events/s, two shapes: 8 publishers each awaiting its `bus.put()` in a loop,
 *      and 8 publishers each keeping `--in-flight` puts in flight (that many awaiting loops each); one
 *      `bus.get('a.>')` counts; baseline: the same shapes in raw ioredis (`XADD`s, one `XREAD BLOCK` loop);
 *   2. HTTP publish requests/s: autocannon (in a worker thread) POSTs a small JSON event to a `BusServer`;
 *      baseline: the same autocannon load on a bare node:http server that does one raw `XADD` per request;
 *   3. publish → SSE delivery latency p50/p99: 100 SSE subscribers on `c.>` (node:http, in this process),
 *      one publisher POSTs a timestamped event every 5 ms; latency = receipt − the publisher's clock.
 *
 * For every phase it prints the Redis commands it cost (INFO commandstats deltas), the CPU this process
 * and redis-server used per event, and the load average.
 *
 *   npm run bench:bus                                   # 2 rounds; 5 s in-process, 10 s HTTP, 5 s SSE
 *   npm run bench:bus -- --rounds 3 --seconds 5 --http-seconds 10 --connections 50 --subscribers 100
 *   npm run bench:bus -- --quick                        # smoke: 1 round, 1 s phases
 *   npm run bench:bus -- --only inproc --in-flight 32   # some phases (inproc, http, sse); puts in flight per publisher
 *
 * A warm-up pass (1 s of each in-process variant, not recorded) runs first: the first thousands of puts
 * run cold code. Markdown goes to stdout, progress to stderr.
 */
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { Agent, createServer, request } from 'node:http'
import type { IncomingMessage, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'

import autocannon from 'autocannon'
import * as hdr from 'hdr-histogram-js'
import { Redis } from 'ioredis'

import { Bus, BusServer, SseParser } from '../../actors/bus/index.js'
import { LocalRedis } from '../../cli/local-servers/redis-server.js'
import { captureEnv, envMarkdown } from '../lib/env.js'
import { emitResult, figure, type Figure, ratio, type Ratio } from '../lib/results.js'
import { machineState, suiteArgs } from '../lib/runner.js'
import { fmtRatio, ratios, sig, summarize, table } from '../lib/stats.js'

const kUsage = `npm run bench:bus -- [--rounds N] [--quick] [--seconds 5] [--http-seconds 10] [--connections 50] [--subscribers 100] [--in-flight 32] [--only inproc,http,sse]`
const kOptions = ['seconds', 'http-seconds', 'connections', 'subscribers', 'in-flight', 'only']
const args = suiteArgs(kUsage, kOptions)
const ctx = args.ctx
const option = (name: string, fallback: number): number => Number(args.string(name.slice(2)) ?? fallback)
const log = ctx.log
const rounds = ctx.quick && !args.given('rounds') ? 1 : args.given('rounds') ? ctx.rounds : 2
const kSeconds = option('--seconds', ctx.quick ? 1 : 5)
const kHttpSeconds = option('--http-seconds', ctx.quick ? 1 : 10)
const kConnections = option('--connections', 50)
const kSubscribers = option('--subscribers', 100)
const kPublishers = 8
const kInFlight = option('--in-flight', 32)
const kPhases = new Set((args.string('only') ?? 'inproc,http,sse').split(','))
const kBody = '{"subject":"b.x","payload":{"n":1}}'

const env = captureEnv(['ioredis', 'autocannon', 'hdr-histogram-js'])
const before = await machineState()
const local = process.env.REDIS_URL === undefined || process.env.REDIS_URL === '' ? await LocalRedis.start() : undefined
const url = local?.url ?? process.env.REDIS_URL ?? ''
const admin = new Redis(url)
const serverVersion = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? '?'
log(`redis ${serverVersion} at ${url} (${local === undefined ? 'REDIS_URL' : 'started by the bench'}); ${before}`)

// ---- measuring helpers -------------------------------------------------------------------------

interface Costs {
  /** Redis commands run during the phase, by name (INFO commandstats deltas). */
  readonly commands: Map<string, number>
  readonly nodeCpuMs: number
  readonly redisCpuMs: number
  /** This event loop's utilisation over the phase (0–1). */
  readonly elu: number
  readonly load: string
}

async function redisStats(): Promise<{ calls: Map<string, number>; cpuMs: number }> {
  const [stats, cpu] = await Promise.all([admin.info('commandstats'), admin.info('cpu')])
  const calls = new Map<string, number>()
  for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(m[1] as string, Number(m[2]))
  const user = Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1] ?? 0)
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1] ?? 0)
  return { calls, cpuMs: (user + sys) * 1000 }
}

async function costed<T>(fn: () => Promise<T>): Promise<[T, Costs]> {
  const r0 = await redisStats()
  const c0 = process.cpuUsage()
  const e0 = performance.eventLoopUtilization()
  const value = await fn()
  const c = process.cpuUsage(c0)
  const elu = performance.eventLoopUtilization(e0).utilization
  const r1 = await redisStats()
  const commands = new Map<string, number>()
  for (const [name, n] of r1.calls) {
    const d = n - (r0.calls.get(name) ?? 0)
    if (d > 0 && name !== 'info') commands.set(name, d)
  }
  return [
    value,
    {
      commands,
      nodeCpuMs: (c.user + c.system) / 1000,
      redisCpuMs: r1.cpuMs - r0.cpuMs,
      elu,
      load: os.loadavg()[0]?.toFixed(1) ?? '?',
    },
  ]
}

function perEvent(costs: Costs, events: number): string {
  const cmds = [...costs.commands].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${(n / events).toFixed(2)}`)
  return `per event: node ${((costs.nodeCpuMs * 1000) / events).toFixed(0)} µs CPU, redis ${((costs.redisCpuMs * 1000) / events).toFixed(0)} µs CPU; event loop ${(costs.elu * 100).toFixed(0)} % busy; commands ${cmds.join(', ')} (load ${costs.load})`
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5))

// ---- 1. in-process put → get ------------------------------------------------------------------

interface Rate {
  readonly perSecond: number
  readonly events: number
  readonly costs: Costs
}

/** Runs `lanes` loops, each awaiting `put` until `seconds` pass; the number of puts done. */
async function drive(lanes: number, seconds: number, put: () => Promise<unknown>): Promise<number> {
  const end = Date.now() + seconds * 1000
  let sent = 0
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (Date.now() < end) {
        await put()
        sent++
      }
    }),
  )
  return sent
}

async function rawPutGet(seconds: number, lanes: number): Promise<Rate> {
  const key = `bench:bus:raw:${randomUUID().slice(0, 8)}`
  const writer = new Redis(url)
  const reader = new Redis(url)
  let received = 0
  let stop = false
  // Both connected first: an XREAD from `$` sent before its connection is up could start after the first XADDs.
  await Promise.all([writer.ping(), reader.ping()])
  try {
    const [events, costs] = await costed(async () => {
      const reading = (async () => {
        let cursor = '$'
        while (!stop) {
          const reply = await reader.xreadBuffer('COUNT', 256, 'BLOCK', 100, 'STREAMS', key, cursor)
          for (const [, entries] of reply ?? []) {
            received += entries.length
            cursor = (entries[entries.length - 1] as [Buffer, Buffer[]])[0].toString('latin1')
          }
        }
      })()
      await tick()
      let n = 0
      const sent = await drive(lanes, seconds, () => writer.xadd(key, '*', 'i', `e_${n++}`, 's', 'a.x', 'p', '{"n":1}'))
      while (received < sent) await tick()
      stop = true
      await reading
      return sent
    })
    return { perSecond: events / seconds, events, costs }
  } finally {
    await writer.del(key)
    writer.disconnect()
    reader.disconnect()
  }
}

async function busPutGet(seconds: number, lanes: number): Promise<Rate> {
  const bus = await Bus.connect(url, {
    namespaces: ['a', 'b', 'c'],
    keyPrefix: `bench:bus:${randomUUID().slice(0, 8)}:`,
  })
  try {
    const sub = bus.get('a.>')
    await sub.ready
    let received = 0
    const [events, costs] = await costed(async () => {
      const reading = (async () => {
        for await (const _ of sub) received++
      })()
      const sent = await drive(lanes, seconds, () => bus.put('a.x', '{"n":1}'))
      while (received < sent) await tick()
      await sub.return()
      await reading
      return sent
    })
    return { perSecond: events / seconds, events, costs }
  } finally {
    await bus.close()
  }
}

// ---- 2. HTTP publish with autocannon ----------------------------------------------------------

async function cannon(target: string, seconds: number): Promise<Rate & { p50: number; p99: number; non2xx: number }> {
  const [result, costs] = await costed(() =>
    autocannon({
      url: target,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: kBody,
      connections: kConnections,
      duration: seconds,
      workers: 1,
    }),
  )
  const events = result['2xx']
  if (result.errors > 0 || result.non2xx > 0)
    log(`  autocannon: ${result.errors} errors, ${result.non2xx} non-2xx answers`)
  return {
    perSecond: events / result.duration,
    events,
    costs,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
  }
}

async function rawHttpServer(): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const redis = new Redis(url)
  const key = `bench:bus:rawhttp:${randomUUID().slice(0, 8)}`
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      redis.xadd(key, '*', 'p', body).then(
        (id) => {
          res.writeHead(202, { 'X-BUS-EVENT-ID': id ?? '' })
          res.end()
        },
        () => {
          res.writeHead(500)
          res.end()
        },
      )
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    async close() {
      server.closeAllConnections()
      server.close()
      await redis.del(key)
      redis.disconnect()
    },
  }
}

async function httpPublish(
  seconds: number,
): Promise<{ raw: Awaited<ReturnType<typeof cannon>>; bus: Awaited<ReturnType<typeof cannon>> }> {
  const raw = await rawHttpServer()
  let rawResult
  try {
    rawResult = await cannon(raw.url, seconds)
  } finally {
    await raw.close()
  }
  const bus = await Bus.connect(url, {
    namespaces: ['a', 'b', 'c'],
    keyPrefix: `bench:bus:${randomUUID().slice(0, 8)}:`,
  })
  const server = await BusServer.listen({ bus, port: 0 })
  try {
    return { raw: rawResult, bus: await cannon(`${server.url}/`, seconds) }
  } finally {
    await server.close()
    await bus.close()
  }
}

// ---- 3. publish → SSE delivery ----------------------------------------------------------------

interface Delivery {
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly published: number
  readonly deliveries: number
  readonly costs: Costs
}

const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000)

async function sseDelivery(seconds: number): Promise<Delivery> {
  const bus = await Bus.connect(url, {
    namespaces: ['a', 'b', 'c'],
    keyPrefix: `bench:bus:${randomUUID().slice(0, 8)}:`,
  })
  const server = await BusServer.listen({ bus, port: 0 })
  const agent = new Agent({ keepAlive: true, maxSockets: 4 })
  const streams: IncomingMessage[] = []
  try {
    const histogram = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000,
      numberOfSignificantValueDigits: 3,
    })
    for (let i = 0; i < kSubscribers; i++) {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = request(`${server.url}/?subject=c.>`, { agent: false }, resolve)
        req.on('error', reject)
        req.end()
      })
      const parser = new SseParser()
      res.setEncoding('utf8')
      res.on('data', (chunk: string) =>
        parser.push(chunk, (m) => {
          if (m.event !== 'msg') return
          const sentAt = (JSON.parse(m.data) as { payload: { t: number } }).payload.t
          histogram.recordValue(Math.max(1, nowUs() - sentAt))
        }),
      )
      streams.push(res)
    }
    const post = (body: string) =>
      new Promise<void>((resolve, reject) => {
        const req = request(`${server.url}/`, { method: 'POST', agent }, (res) => {
          res.resume()
          res.on('end', () => (res.statusCode === 202 ? resolve() : reject(new Error(`status ${res.statusCode}`))))
        })
        req.on('error', reject)
        req.end(body)
      })
    const [published, costs] = await costed(async () => {
      const end = Date.now() + seconds * 1000
      let sent = 0
      while (Date.now() < end) {
        await post(`{"subject":"c.x","payload":{"t":${nowUs()}}}`)
        sent++
        await tick()
      }
      const deadline = Date.now() + 30_000
      while (histogram.totalCount < sent * kSubscribers && Date.now() < deadline) await tick()
      return sent
    })
    return {
      p50: histogram.getValueAtPercentile(50) / 1000,
      p99: histogram.getValueAtPercentile(99) / 1000,
      max: histogram.maxValue / 1000,
      published,
      deliveries: histogram.totalCount,
      costs,
    }
  } finally {
    for (const res of streams) res.destroy()
    agent.destroy()
    await server.close()
    await bus.close()
  }
}

// ---- the run ----------------------------------------------------------------------------------

const kInProc = [
  {
    name: 'awaited',
    label: `${kPublishers} publishers awaiting each put`,
    metric: 'in-process put → get',
    lanes: kPublishers,
  },
  {
    name: 'in flight',
    label: `${kPublishers} publishers × ${kInFlight} puts in flight`,
    metric: `in-process put → get, ${kPublishers} × ${kInFlight} in flight`,
    lanes: kPublishers * kInFlight,
  },
] as const
const inprocRaw: Rate[][] = kInProc.map(() => [])
const inprocBus: Rate[][] = kInProc.map(() => [])
const httpRaw: Awaited<ReturnType<typeof cannon>>[] = []
const httpBus: Awaited<ReturnType<typeof cannon>>[] = []
const sse: Delivery[] = []

if (kPhases.has('inproc')) {
  log('warm-up: 1 s of each in-process variant (not recorded)')
  for (const shape of kInProc) {
    await rawPutGet(1, shape.lanes)
    await busPutGet(1, shape.lanes)
  }
}
for (let round = 1; round <= rounds; round++) {
  log(`round ${round}/${rounds}: ${await machineState()}`)
  if (kPhases.has('inproc')) {
    for (const [k, shape] of kInProc.entries()) {
      const r = await rawPutGet(kSeconds, shape.lanes)
      log(`  raw XADD → XREAD, ${shape.name}: ${sig(r.perSecond)} events/s; ${perEvent(r.costs, r.events)}`)
      inprocRaw[k]?.push(r)
      const b = await busPutGet(kSeconds, shape.lanes)
      log(`  bus put → get, ${shape.name}: ${sig(b.perSecond)} events/s; ${perEvent(b.costs, b.events)}`)
      inprocBus[k]?.push(b)
    }
  }
  if (kPhases.has('http')) {
    const h = await httpPublish(kHttpSeconds)
    log(
      `  HTTP raw XADD server: ${sig(h.raw.perSecond)} req/s (p50 ${h.raw.p50} ms, p99 ${h.raw.p99} ms); ${perEvent(h.raw.costs, h.raw.events)}`,
    )
    log(
      `  HTTP BusServer: ${sig(h.bus.perSecond)} req/s (p50 ${h.bus.p50} ms, p99 ${h.bus.p99} ms); ${perEvent(h.bus.costs, h.bus.events)}`,
    )
    httpRaw.push(h.raw)
    httpBus.push(h.bus)
  }
  if (kPhases.has('sse')) {
    const s = await sseDelivery(kSeconds)
    log(
      `  SSE delivery: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(1)} ms; ${s.deliveries}/${s.published * kSubscribers} deliveries; ${perEvent(s.costs, s.published)}`,
    )
    sse.push(s)
  }
}
const after = await machineState()

const med = (xs: readonly number[]) => summarize(xs).median
const perSecond = (xs: readonly Rate[]) => xs.map((x) => x.perSecond)
const rows: string[][] = []
for (const [k, shape] of kInProc.entries()) {
  const r = inprocRaw[k] ?? []
  const b = inprocBus[k] ?? []
  if (b.length === 0) continue
  rows.push([
    `in-process put → get, ${shape.label}, events/s`,
    sig(med(perSecond(r))),
    sig(med(perSecond(b))),
    fmtRatio(ratios(perSecond(b), perSecond(r))),
  ])
}
if (httpBus.length > 0)
  rows.push([
    `HTTP publish, requests/s (autocannon, ${kConnections} connections × ${kHttpSeconds} s)`,
    sig(med(perSecond(httpRaw))),
    sig(med(perSecond(httpBus))),
    fmtRatio(ratios(perSecond(httpBus), perSecond(httpRaw))),
  ])
if (sse.length > 0)
  rows.push([
    `publish → SSE delivery p50 / p99, ms (${kSubscribers} subscribers)`,
    '—',
    `${med(sse.map((x) => x.p50)).toFixed(2)} / ${med(sse.map((x) => x.p99)).toFixed(2)}`,
    '—',
  ])
process.stdout.write(
  [
    envMarkdown(env),
    '',
    `Redis ${serverVersion} (${local === undefined ? 'REDIS_URL' : 'redis-server started by the bench, no persistence'}), on the same host. Machine state: at start ${before}; at end ${after}.`,
    '',
    `Medians of ${rounds} round(s); the ratio is bus ÷ raw within each round (median, min–max).`,
    '',
    table(['measure', 'raw baseline', 'bus', 'bus ÷ raw'], rows),
    '',
  ].join('\n'),
)

/** CPU per event, µs: this process and redis-server. */
const cpu = (xs: readonly Rate[], side: 'nodeCpuMs' | 'redisCpuMs') => xs.map((x) => (x.costs[side] * 1000) / x.events)
const figures: Figure[] = []
const targets: Ratio[] = []
for (const [k, shape] of kInProc.entries()) {
  const r = inprocRaw[k] ?? []
  const b = inprocBus[k] ?? []
  if (b.length === 0) continue
  const what = shape.metric
  figures.push(
    figure(what, 'raw XADD → XREAD', 'events/s', perSecond(r)),
    figure(what, 'bus', 'events/s', perSecond(b)),
    figure(`${what}, node CPU per event`, 'raw XADD → XREAD', 'µs', cpu(r, 'nodeCpuMs')),
    figure(`${what}, node CPU per event`, 'bus', 'µs', cpu(b, 'nodeCpuMs')),
    figure(`${what}, redis CPU per event`, 'raw XADD → XREAD', 'µs', cpu(r, 'redisCpuMs')),
    figure(`${what}, redis CPU per event`, 'bus', 'µs', cpu(b, 'redisCpuMs')),
  )
  targets.push(
    ratio(`bus ÷ raw, ${what}`, ratios(perSecond(b), perSecond(r)), {
      op: '>=',
      value: 0.8,
      source: 'issue: bus put → get ≥ 0.8× raw',
    }),
  )
}
if (httpBus.length > 0) {
  figures.push(
    figure('HTTP publish', 'bare node:http + XADD', 'requests/s', perSecond(httpRaw)),
    figure('HTTP publish', 'BusServer', 'requests/s', perSecond(httpBus)),
    figure(
      'HTTP publish p50',
      'bare node:http + XADD',
      'ms',
      httpRaw.map((x) => x.p50),
    ),
    figure(
      'HTTP publish p50',
      'BusServer',
      'ms',
      httpBus.map((x) => x.p50),
    ),
    figure(
      'HTTP publish p99',
      'bare node:http + XADD',
      'ms',
      httpRaw.map((x) => x.p99),
    ),
    figure(
      'HTTP publish p99',
      'BusServer',
      'ms',
      httpBus.map((x) => x.p99),
    ),
  )
  targets.push(
    ratio('BusServer ÷ bare server, HTTP publish', ratios(perSecond(httpBus), perSecond(httpRaw)), {
      op: '>=',
      value: 0.7,
      source: 'issue: HTTP publish ≥ 0.7× a bare server',
    }),
  )
}
if (sse.length > 0)
  figures.push(
    figure(
      `publish → SSE delivery p50, ${kSubscribers} subscribers`,
      'bus',
      'ms',
      sse.map((x) => x.p50),
    ),
    figure(
      `publish → SSE delivery p99, ${kSubscribers} subscribers`,
      'bus',
      'ms',
      sse.map((x) => x.p99),
    ),
  )
emitResult({
  suite: 'bus',
  env,
  quick: ctx.quick,
  partial: kOptions.some((name) => args.given(name)),
  servers: { 'redis-server': serverVersion },
  state: { start: before, end: after },
  figures,
  ratios: targets,
})

await admin.quit()
await local?.close()
