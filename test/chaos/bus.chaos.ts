/**
 * Chaos, bus: SSE clients of a bus server that is killed and restarted lose nothing, and a confirmed
 * event is not delivered again to its durable consumer.
 *
 * The server (fixtures/bus-server.ts, `BusServer` over a `Bus`) runs in a child process on a fixed
 * port and is killed with SIGKILL every few seconds, then started again on the same port. The test
 * holds its SSE clients (`BusClient`, which reconnects with `Last-Event-ID`): one durable consumer
 * (`ack: 'manual'`, `durable`, each event acked over HTTP) and readers without acks. A publisher (a
 * `Bus` of the test's own, on Redis) puts the events at a steady rate with `confirm: 1`: each put
 * resolves once the durable consumer's ack is recorded, or rejects with `TimeoutError` (published,
 * not confirmed).
 *
 * Afterwards, once every client caught up (bounded): the durable consumer got every published event,
 * and got no event again after its confirmation (an event whose ack failed with the server, or was
 * never made, comes again: a recorded duplicate); its cursor in Redis is at the end of the stream.
 * Every reader got every event exactly once (`Last-Event-ID` resumes after the last event received).
 * Recovery: from a kill until every client got an event again, the longest over the kills.
 */
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

import { Redis } from 'ioredis'
import { expect, it } from 'vitest'

import { Bus, BusClient, type BusEvent, type Subscription } from '../../actors/bus/index.js'
import { isPulseError } from '../../runtime/errors.js'
import { deleteByPrefix } from '../helpers/redis.js'
import { redisUrl } from '../helpers/servers.js'
import { FaultLoop, type TimelineEntry, timelineOf } from './fault-loop.js'
import { Fleet } from './fleet.js'
import { chaosSize } from './long.js'
import { type ScenarioResult, writeResult } from './results.js'
import { waitFor } from './wait.js'

const size = chaosSize(
  { events: 1_000, perSecond: 60, killEveryMs: 1_000, readers: 2 },
  { events: 6_000, perSecond: 100, killEveryMs: 1_000, readers: 3 },
)
const confirmTimeoutMs = 20_000
const drainTimeoutMs = 30_000
const entry = fileURLToPath(new URL('./fixtures/bus-server.ts', import.meta.url))

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** What one SSE client received: deliveries per event (by index), and when. */
class Ledger {
  readonly deliveries = new Map<number, number>()
  readonly times: number[] = []

  record(i: number): number {
    const n = (this.deliveries.get(i) ?? 0) + 1
    this.deliveries.set(i, n)
    this.times.push(Date.now())
    return n
  }

  has(count: number): boolean {
    return this.deliveries.size >= count
  }

  /** Deliveries beyond the first, over every event. */
  get repeated(): number {
    let n = 0
    for (const count of this.deliveries.values()) n += count - 1
    return n
  }

  firstAfter(at: number): number | undefined {
    return this.times.find((t) => t > at)
  }
}

const indexOf = (payload: Buffer) => (JSON.parse(payload.toString()) as { i: number }).i

/** The durable consumer: records each delivery, then acks it over HTTP. */
class Durable extends Ledger {
  readonly acked = new Set<number>()
  /** Index → when its put resolved (the publisher's confirmation). */
  readonly confirmedAt = new Map<number, number>()
  ackFailures = 0
  readonly ackErrors: string[] = []
  /** Deliveries of an event whose earlier ack had succeeded (a 202), and of one already confirmed. */
  afterAck = 0
  afterConfirm = 0

  async consume(sub: Subscription): Promise<void> {
    for await (const event of sub) {
      const i = indexOf(event.payload)
      this.record(i)
      if (this.acked.has(i)) this.afterAck++
      const confirmed = this.confirmedAt.get(i)
      if (confirmed !== undefined && confirmed < Date.now()) this.afterConfirm++
      if (await this.#ack(event)) this.acked.add(i)
    }
  }

  /** Acks, as a consumer does: a failed ack is tried again, twice; whether one succeeded. */
  async #ack(event: BusEvent): Promise<boolean> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await event.ack()
        return true
      } catch (error) {
        this.ackFailures++
        if (this.ackErrors.length < 5) this.ackErrors.push(String(error))
        await sleep(100)
      }
    }
    return false
  }
}

async function read(sub: Subscription, ledger: Ledger): Promise<void> {
  for await (const event of sub) ledger.record(indexOf(event.payload))
}

interface Published {
  confirmed: number
  unconfirmed: number
  failed: string[]
  maxConfirmMs: number
}

/** Puts the events at a steady rate, each with `confirm: 1`, noting when each one was confirmed. */
async function publish(bus: Bus, ns: string, durable: Durable): Promise<Published> {
  const out: Published = { confirmed: 0, unconfirmed: 0, failed: [], maxConfirmMs: 0 }
  const started = Date.now()
  const puts: Promise<void>[] = []
  for (let i = 0; i < size.events; i++) {
    const due = started + (i * 1_000) / size.perSecond
    if (due > Date.now()) await sleep(due - Date.now())
    const from = Date.now()
    puts.push(
      bus.put(`${ns}.tick`, { i }, { confirm: 1, timeoutMs: confirmTimeoutMs }).then(
        () => {
          durable.confirmedAt.set(i, Date.now())
          out.confirmed++
          out.maxConfirmMs = Math.max(out.maxConfirmMs, Date.now() - from)
        },
        (error: unknown) => {
          if (isPulseError(error) && error.code === 'PULSE_ERR_TIMEOUT') out.unconfirmed++
          else out.failed.push(String(error))
        },
      ),
    )
  }
  await Promise.all(puts)
  return out
}

interface Run {
  readonly published: Published
  readonly drained: boolean
  readonly recoveryMs: number | undefined
  readonly durationMs: number
  readonly faults: Record<string, number>
  readonly timeline: string[]
}

/** Whether the durable consumer's cursor is at the last event of the stream. */
async function cursorAtEnd(raw: Redis, ns: string): Promise<boolean> {
  const [cursor, last] = await Promise.all([
    raw.hget(`pulse:bus:{${ns}}:durable:chaos`, 'cursor'),
    raw.xrevrange(`pulse:bus:{${ns}}:log`, '+', '-', 'COUNT', 1),
  ])
  return cursor !== null && cursor === last[0]?.[0]
}

/** Publishes under kills of the server, then waits (bounded) for every client to catch up. */
async function publishUnderKills(raw: Redis, ns: string, bus: Bus, fleet: Fleet, clients: [Durable, ...Ledger[]]) {
  const [durable] = clients
  const started = Date.now()
  const killedAt: number[] = []
  // A kill waits until the restarted server served every client again (bounded), so that each kill
  // interrupts live streams rather than a server nobody reached yet.
  const kill = async () => {
    await fleet.ready(1)
    const readyAt = Date.now()
    await waitFor(() => clients.every((c) => c.firstAfter(readyAt) !== undefined), {
      timeoutMs: 10_000,
      what: 'every client served by the restarted server',
    }).catch(() => undefined)
    await fleet.killOne()
    killedAt.push(Date.now())
  }
  const kills = new FaultLoop([{ kind: 'kill', gapMs: size.killEveryMs, run: kill }]).start()
  const marks: TimelineEntry[] = []
  const publishing = publish(bus, ns, durable)
  await sleep((size.events * 1_000) / size.perSecond)
  await kills.stop()
  await fleet.ready(1)
  marks.push({ at: Date.now(), what: 'kills stopped, server ready' })
  const published = await publishing
  marks.push({ at: Date.now(), what: 'every put settled' })
  // Caught up: every client got every event, and the durable consumer's cursor is at the end of the stream.
  const drained = await waitFor(async () => clients.every((c) => c.has(size.events)) && (await cursorAtEnd(raw, ns)), {
    timeoutMs: drainTimeoutMs,
    intervalMs: 50,
    what: 'every client caught up',
  }).then(
    () => true,
    () => false,
  )
  marks.push({ at: Date.now(), what: drained ? 'every client caught up' : 'not caught up' })
  const recoveries: number[] = []
  for (const at of killedAt) {
    const firsts = clients.map((c) => c.firstAfter(at))
    if (firsts.every((t): t is number => t !== undefined)) recoveries.push(Math.max(...firsts) - at)
    const each = firsts.map(
      (t, k) => `${k === 0 ? 'durable' : `reader ${k}`} ${t === undefined ? '-' : `${t - at} ms`}`,
    )
    marks.push({ at: at + 1, what: `next event after the kill: ${each.join(', ')}` })
  }
  const run: Run = {
    published,
    drained,
    recoveryMs: recoveries.length === 0 ? undefined : Math.max(...recoveries),
    durationMs: Date.now() - started,
    faults: Object.fromEntries(kills.counts),
    timeline: timelineOf(started, kills.timeline, marks),
  }
  return run
}

function busResult(run: Run, durable: Durable, readers: Ledger[], cursorAtEnd: boolean, fleet: Fleet): ScenarioResult {
  const n = (x: number) => x.toLocaleString('en-US')
  const missing = (ledger: Ledger) => size.events - ledger.deliveries.size
  const readerRepeats = readers.reduce((sum, r) => sum + r.repeated, 0)
  const deliveries = [durable, ...readers].reduce((sum, c) => sum + c.times.length, 0)
  return {
    scenario: 'bus',
    guarantee: 'confirmed events not lost nor redelivered; SSE resumes exactly',
    faults: run.faults,
    work: `${n(size.events)} events confirmed by 1 durable consumer, ${size.readers} SSE readers, ${n(deliveries)} deliveries`,
    lost: missing(durable) + readers.reduce((sum, r) => sum + missing(r), 0),
    duplicates: durable.repeated - durable.afterConfirm,
    unrecordedDuplicates: durable.afterConfirm + readerRepeats,
    recoveryMs: run.recoveryMs,
    durationMs: run.durationMs,
    details: {
      'puts confirmed': run.published.confirmed,
      'puts unconfirmed (TimeoutError)': run.published.unconfirmed,
      'puts failed otherwise': run.published.failed.length,
      'longest confirmation ms': run.published.maxConfirmMs,
      'durable: events missing': missing(durable),
      'durable: deliveries': durable.times.length,
      'durable: ack attempts that failed': durable.ackFailures,
      'durable: ack errors': durable.ackErrors.join('; '),
      'durable: events whose every ack attempt failed (the server had taken one: not redelivered)':
        size.events - durable.acked.size,
      'durable: deliveries after a successful ack': durable.afterAck,
      'durable: deliveries after the confirmation': durable.afterConfirm,
      'durable: cursor at the end of the stream': cursorAtEnd ? 'yes' : 'no',
      'readers: events missing': readers.reduce((sum, r) => sum + missing(r), 0),
      'readers: events received twice': readerRepeats,
      'server starts that failed': fleet.failedStarts,
      'server crashes': fleet.crashes.length,
    },
    timeline: run.timeline,
  }
}

it('bus: with the server killed and restarted, SSE clients lose nothing and no confirmed event reaches its durable consumer twice', async () => {
  const ns = `c${randomUUID().slice(0, 8)}`
  const raw = new Redis(redisUrl(), { maxRetriesPerRequest: 1 })
  const port = await freePort()
  const fleet = new Fleet({
    entry,
    ready: /^ready /,
    args: () => [JSON.stringify({ url: redisUrl(), port, namespaces: [ns] })],
  })
  const bus = await Bus.connect(redisUrl(), { namespaces: [ns] })
  const client = new BusClient(`http://127.0.0.1:${port}`, { reconnect: { attempts: 200, delayMs: 100 } })
  const durable = new Durable()
  const readers = Array.from({ length: size.readers }, () => new Ledger())
  const subs: Subscription[] = []
  try {
    await fleet.start(1)
    const durableSub = client.get(`${ns}.>`, {
      start: 'oldest',
      ack: 'manual',
      durable: 'chaos',
      redelivery: { delayMs: 3_000, count: 0 },
    })
    subs.push(durableSub, ...readers.map(() => client.get(`${ns}.>`, { start: 'oldest' })))
    await Promise.all(subs.map((s) => s.ready))
    const consuming = [durable.consume(durableSub), ...readers.map((r, k) => read(subs[k + 1] as Subscription, r))]
    const run = await publishUnderKills(raw, ns, bus, fleet, [durable, ...readers])
    const atEnd = await cursorAtEnd(raw, ns)
    const result = busResult(run, durable, readers, atEnd, fleet)
    writeResult(result)
    await Promise.all(subs.map((s) => s.return()))
    await Promise.all(consuming.map((c) => c.catch(() => undefined)))

    expect(run.published.failed, 'puts that failed otherwise than unconfirmed').toEqual([])
    expect({ lost: result.lost, unrecorded: result.unrecordedDuplicates }).toEqual({ lost: 0, unrecorded: 0 })
    expect(atEnd, 'the durable cursor at the end of the stream').toBe(true)
    expect(fleet.kills, 'kills').toBeGreaterThan(0)
    expect(fleet.crashes, 'servers that exited by themselves').toEqual([])
  } finally {
    await Promise.all(subs.map((s) => s.return().catch(() => undefined)))
    await client.close()
    await bus.close()
    await fleet.stop()
    await deleteByPrefix(raw, `pulse:bus:{${ns}}`)
    await raw.quit()
  }
})
