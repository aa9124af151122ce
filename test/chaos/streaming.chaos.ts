/**
 * Chaos, streaming: no acked event is lost, and a redelivery is visible as one, across Redis restarts.
 *
 * The stream lives on a redis-server of the scenario's own, with its append-only file written before
 * each reply (servers.ts). Three processes (fixtures/sink-consumer.ts) consume it as instances of one
 * sink, recording each delivery on the shared server (which no fault touches) before they ack it,
 * while the test adds events at a steady rate. Once a third of the events are recorded, one consumer
 * stops handling events and, once it holds some it read and had not acked, is killed with SIGKILL; the
 * other two claim them once they are idle past the ack grace period. Meanwhile the server restarts, in turn after a SIGKILL (a crash)
 * and after a SHUTDOWN. An add that fails in a restart may or may not have happened: the producer looks
 * for its events in the stream once the server is back and adds only the missing ones again.
 *
 * Afterwards, from Redis: nothing is pending in the group (every event acked), every event was
 * recorded, and each event's records are one first delivery plus one per redelivery (`deliveryCount`
 * above 1). Recovery: from each restart's end to the first ack confirmed after it (the consumers note
 * when a `flush()` of their acks resolves); from the kill until the dead consumer holds no pending event.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

import { Redis } from 'ioredis'
import { expect, it } from 'vitest'

import { type NewEvent, Stream } from '../../actors/streaming/index.js'
import type { LocalRedis, RedisStopMode } from '../../cli/local-servers/redis-server.js'
import { deleteByPrefix } from '../helpers/redis.js'
import { redisUrl } from '../helpers/servers.js'
import { FaultLoop, timelineOf } from './fault-loop.js'
import { Fleet } from './fleet.js'
import { chaosSize } from './long.js'
import { type ScenarioResult, writeResult } from './results.js'
import { privateRedis, recoveriesOf, recoveryFigures, type Recovery, Restarts } from './servers.js'
import { waitFor } from './wait.js'

const size = chaosSize(
  { events: 4_000, perSecond: 250, restartGapMs: 3_000 },
  { events: 40_000, perSecond: 250, restartGapMs: 8_000 },
)
const consumers = 3
const batch = 100
const ackGracePeriodMs = 2_000
const drainTimeoutMs = 60_000

const entry = fileURLToPath(new URL('./fixtures/sink-consumer.ts', import.meta.url))

interface Names {
  readonly tag: string
  readonly stream: string
  readonly sink: string
}

/** Payloads among the stream's last `count` entries (the `p` field). */
async function lastPayloads(server: Redis, key: string, count: number): Promise<Set<string>> {
  const entries = await server.xrevrange(key, '+', '-', 'COUNT', count)
  const payloads = new Set<string>()
  for (const [, fields] of entries) {
    const p = fields.indexOf('p')
    if (p >= 0 && p % 2 === 0 && fields[p + 1] !== undefined) payloads.add(fields[p + 1] as string)
  }
  return payloads
}

/**
 * Adds `events`; when the add fails (the server restarting), waits for the server, keeps those the
 * stream has and adds the rest again. Resolves how many adds failed.
 */
async function addOnce(stream: Stream, server: Redis, events: readonly NewEvent[]): Promise<number> {
  let failures = 0
  let missing = events
  for (;;) {
    try {
      await stream.addMany(missing)
      return failures
    } catch {
      failures++
      await waitFor(
        () =>
          server.ping().then(
            () => true,
            () => false,
          ),
        { timeoutMs: 30_000, what: 'the server back' },
      )
      // One producer: an add that happened is among the latest entries.
      const present = await lastPayloads(server, stream.key, 4 * batch)
      missing = missing.filter((e) => !present.has(String(e.payload)))
      if (missing.length === 0) return failures
    }
  }
}

/** Adds the events, `batch` at a time at `size.perSecond`; resolves how many adds failed. */
async function produce(stream: Stream, server: Redis): Promise<number> {
  const started = Date.now()
  let failures = 0
  for (let i = 0; i < size.events; i += batch) {
    const events = Array.from({ length: Math.min(batch, size.events - i) }, (_, j) => ({
      name: 'tick',
      payload: String(i + j),
    }))
    failures += await addOnce(stream, server, events)
    const due = started + ((i + batch) / size.perSecond) * 1_000
    if (due > Date.now()) await sleep(due - Date.now())
  }
  return failures
}

/** Pending entries of the group, in all or for one consumer; -1 while the server does not answer. */
async function pending(server: Redis, names: Names, consumer?: string): Promise<number> {
  const key = `pulse:stream:${names.stream}`
  try {
    if (consumer === undefined) {
      const [count] = (await server.xpending(key, names.sink)) as [number]
      return count
    }
    const rows = await server.xpending(key, names.sink, '-', '+', 1_000_000, consumer)
    return rows.length
  } catch {
    return -1
  }
}

interface Ledger {
  readonly recorded: number
  readonly deliveries: number
  /** Events delivered again (a delivery with `deliveryCount` above 1). */
  readonly redelivered: number
  readonly duplicates: number
  readonly unrecorded: number
}

/** Each event: its deliveries beyond the first are redeliveries, or unrecorded duplicates. */
async function ledger(records: Redis, names: Names): Promise<Ledger> {
  const deliveries = await records.hgetall(`${names.tag}:deliveries`)
  const redeliveries = await records.hgetall(`${names.tag}:redeliveries`)
  let total = 0
  let unrecorded = 0
  for (const [index, n] of Object.entries(deliveries)) {
    total += Number(n)
    unrecorded += Math.max(0, Number(n) - Number(redeliveries[index] ?? 0) - 1)
  }
  const recorded = Object.keys(deliveries).filter((i) => Number(i) >= 0 && Number(i) < size.events).length
  return {
    recorded,
    deliveries: total,
    redelivered: Object.keys(redeliveries).length,
    duplicates: total - recorded - unrecorded,
    unrecorded,
  }
}

/** From each restart's end to the first ack a consumer saw confirmed after it. */
async function ackRecoveries(records: Redis, names: Names, restarts: Restarts<string>): Promise<Recovery[]> {
  const times = (await records.lrange(`${names.tag}:ack-times`, 0, -1)).map(Number).sort((a, b) => a - b)
  return recoveriesOf(restarts.windows, (since) => Promise.resolve(times.find((t) => t >= since)))
}

interface Run {
  /** How many events the killed consumer held, read and not acked, when it died. */
  readonly heldAtKill: number
  /** From the kill until the dead consumer held no pending event; undefined if that never came. */
  readonly killRecoveryMs: number | undefined
  readonly addFailures: number
  readonly faults: Record<string, number>
  readonly timeline: string[]
  readonly durationMs: number
}

/** Adds the events while the server restarts, kills a consumer once a third are recorded, waits for the rest. */
async function consume(
  io: { server: Redis; records: Redis; stream: Stream },
  names: Names,
  fleet: Fleet,
  restarts: Restarts<RedisStopMode>,
): Promise<Run> {
  const { server, records, stream } = io
  const started = Date.now()
  const loop = new FaultLoop([restarts.step('kill', size.restartGapMs), restarts.step('shutdown', size.restartGapMs)])
  loop.start()
  const producing = produce(stream, server).finally(() => loop.stop())
  // The first kill takes the member of slot 0: it is killed while it holds events read and not acked.
  const victim = (await fleet.waitForAll(/^ready /, 1_000))[0]?.split(' ')[1] ?? ''
  await waitFor(async () => (await records.hlen(`${names.tag}:deliveries`)) >= size.events / 3, {
    timeoutMs: 60_000,
    intervalMs: 20,
    what: 'a third of the events recorded',
  })
  // It stops handling events (fixtures/sink-consumer.ts), so what its sink reads from now on stays pending on it.
  expect(fleet.signalNext('SIGUSR2'), 'the consumer to kill is signalled').toBe(true)
  await waitFor(async () => (await pending(server, names, victim)) >= 5, {
    timeoutMs: 30_000,
    intervalMs: 5,
    what: 'the consumer to kill holding events',
  })
  const killed = (await fleet.killOne({ restart: false }))?.split(' ')[1] ?? ''
  const killedAt = Date.now()
  // Read once the server answers (-1 while it restarts).
  let heldAtKill = -1
  await waitFor(async () => (heldAtKill = await pending(server, names, killed)) >= 0, {
    timeoutMs: 30_000,
    intervalMs: 20,
    what: "the killed consumer's pending count",
  })
  // From the kill until the dead consumer holds no pending event (its events were claimed by the others).
  const claimed = waitFor(async () => (await pending(server, names, killed)) === 0, {
    timeoutMs: drainTimeoutMs,
    intervalMs: 50,
    what: "the killed consumer's events claimed",
  }).then(
    () => Date.now() - killedAt,
    () => undefined,
  )
  const drained = async () =>
    (await records.hlen(`${names.tag}:deliveries`)) === size.events && (await pending(server, names)) === 0
  const addFailures = await producing
  // A drain that does not finish shows in the results and fails the assertions.
  await waitFor(drained, { timeoutMs: drainTimeoutMs, what: `${size.events} events recorded and acked` }).catch(
    () => undefined,
  )
  const killRecoveryMs = await claimed
  return {
    heldAtKill,
    killRecoveryMs,
    addFailures,
    faults: { kill: fleet.kills, ...Object.fromEntries(loop.counts) },
    timeline: timelineOf(started, loop.timeline, [{ at: killedAt, what: 'kill (a consumer)' }]),
    durationMs: Date.now() - started,
  }
}

function streamingResult(
  run: Run,
  book: Ledger,
  unacked: number,
  recoveries: readonly Recovery[],
  fleet: Fleet,
): ScenarioResult {
  const n = (x: number) => x.toLocaleString('en-US')
  const recovery = recoveryFigures(recoveries, 'first ack confirmed')
  return {
    scenario: 'streaming',
    guarantee: 'no acked event lost; redeliveries marked',
    faults: run.faults,
    work: `${n(size.events)} events, ${n(book.deliveries)} deliveries, ${consumers} consumers`,
    lost: size.events - book.recorded + Math.max(0, unacked),
    duplicates: book.duplicates,
    unrecordedDuplicates: book.unrecorded,
    recoveryMs: recovery.longestMs,
    durationMs: run.durationMs,
    details: {
      ...recovery.details,
      'events the killed consumer held unacked': run.heldAtKill,
      'ms until the killed consumer held no pending event': run.killRecoveryMs ?? 'never',
      'events redelivered': book.redelivered,
      'ack grace period ms': ackGracePeriodMs,
      'adds that failed (their events looked up and the missing ones added again)': run.addFailures,
      'events left pending': unacked,
      'consumer crashes': fleet.crashes.length,
    },
    timeline: run.timeline,
  }
}

async function scenario(server: LocalRedis, names: Names, records: Redis): Promise<void> {
  const direct = new Redis(server.url, { maxRetriesPerRequest: 1 })
  direct.on('error', () => undefined)
  const stream = new Stream(server.url, names.stream, { maxLen: 0 })
  const restarts = new Restarts<RedisStopMode>(server)
  const fleet = new Fleet({
    entry,
    ready: /^ready /,
    args: () => [
      JSON.stringify({
        url: server.url,
        recordUrl: redisUrl(),
        stream: names.stream,
        sink: names.sink,
        prefix: names.tag,
        ackGracePeriodMs,
      }),
    ],
  })
  try {
    await fleet.start(consumers)
    const run = await consume({ server: direct, records, stream }, names, fleet, restarts)
    const unacked = await pending(direct, names)
    const book = await ledger(records, names)
    const recoveries = await ackRecoveries(records, names, restarts)
    writeResult(streamingResult(run, book, unacked, recoveries, fleet))

    expect({ recorded: book.recorded, unacked, unrecorded: book.unrecorded }).toEqual({
      recorded: size.events,
      unacked: 0,
      unrecorded: 0,
    })
    expect(run.heldAtKill, 'events the killed consumer held').toBeGreaterThan(0)
    expect(book.redelivered).toBeGreaterThanOrEqual(run.heldAtKill)
    expect(fleet.crashes, 'consumers that exited by themselves').toEqual([])
    expect(restarts.windows.map((w) => w.kind)).toEqual(
      expect.arrayContaining(['restart (kill)', 'restart (shutdown)']),
    )
    expect(
      recoveries.filter((r) => r.ms === undefined),
      'restarts after which no ack was confirmed',
    ).toEqual([])
  } finally {
    await fleet.stop()
    await stream.close()
    direct.disconnect()
  }
}

it(
  'streaming: with a sink consumer killed and Redis restarted mid-run, every event is acked and recorded, and every extra record is a redelivery',
  async () => {
    const tag = `chaos-${randomUUID().slice(0, 8)}`
    const names: Names = { tag, stream: `${tag}-events`, sink: `${tag}-sink` }
    const records = new Redis(redisUrl(), { maxRetriesPerRequest: 1 })
    const server = await privateRedis()
    try {
      await scenario(server, names, records)
    } finally {
      await server.close()
      await deleteByPrefix(records, `${tag}:`)
      await records.quit()
    }
  },
  chaosSize(180_000, 900_000),
)
