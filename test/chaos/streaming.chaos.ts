/**
 * Chaos, streaming: no acked event is lost, and a redelivery is visible as one.
 *
 * Three processes (fixtures/sink-consumer.ts) consume a stream as instances of one sink, recording
 * each delivery in Redis before they ack it, while the test adds events in batches. One consumer is
 * killed with SIGKILL once a third of the events are recorded, holding a backlog of events it read and
 * had not acked; the other two claim them once they are idle past the ack grace period.
 *
 * Afterwards, from Redis: nothing is pending in the group (every event acked), every event was
 * recorded, and each event's records are one first delivery plus one per redelivery (`deliveryCount`
 * above 1). Recovery: from the kill until the dead consumer holds no pending event.
 */
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'

import { Redis } from 'ioredis'
import { expect, it } from 'vitest'

import { Stream } from '../../actors/streaming/index.js'
import { deleteByPrefix } from '../helpers/redis.js'
import { redisUrl } from '../helpers/servers.js'
import { Fleet } from './fleet.js'
import { type ScenarioResult, writeResult } from './results.js'
import { waitFor } from './wait.js'

const short = {
  events: 3_000,
  consumers: 3,
  batch: 500,
  ackGracePeriodMs: 2_000,
  drainTimeoutMs: 60_000,
}

const entry = fileURLToPath(new URL('./fixtures/sink-consumer.ts', import.meta.url))

interface Names {
  readonly tag: string
  readonly stream: string
  readonly sink: string
}

async function produce(stream: Stream): Promise<void> {
  for (let i = 0; i < short.events; i += short.batch) {
    const batch = Array.from({ length: Math.min(short.batch, short.events - i) }, (_, j) => ({
      name: 'tick',
      payload: String(i + j),
    }))
    await stream.addMany(batch)
  }
}

/** Pending entries of the group, in all or for one consumer. */
async function pending(raw: Redis, names: Names, consumer?: string): Promise<number> {
  const key = `pulse:stream:${names.stream}`
  if (consumer === undefined) {
    const [count] = (await raw.xpending(key, names.sink)) as [number]
    return count
  }
  const rows = await raw.xpending(key, names.sink, '-', '+', 100_000, consumer)
  return rows.length
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
async function ledger(raw: Redis, names: Names): Promise<Ledger> {
  const deliveries = await raw.hgetall(`${names.tag}:deliveries`)
  const redeliveries = await raw.hgetall(`${names.tag}:redeliveries`)
  let total = 0
  let unrecorded = 0
  for (const [index, n] of Object.entries(deliveries)) {
    total += Number(n)
    unrecorded += Math.max(0, Number(n) - Number(redeliveries[index] ?? 0) - 1)
  }
  const recorded = Object.keys(deliveries).filter((i) => Number(i) >= 0 && Number(i) < short.events).length
  return {
    recorded,
    deliveries: total,
    redelivered: Object.keys(redeliveries).length,
    duplicates: total - recorded - unrecorded,
    unrecorded,
  }
}

async function cleanUp(raw: Redis, names: Names): Promise<void> {
  for (const prefix of [`pulse:stream:${names.tag}`, `map:stream:${names.tag}`, `map:sink:${names.tag}`])
    await deleteByPrefix(raw, prefix)
  await deleteByPrefix(raw, `sink:${names.tag}`)
  await deleteByPrefix(raw, `${names.tag}:`)
}

interface Run {
  /** How many events the killed consumer held, read and not acked, when it died. */
  readonly heldAtKill: number
  /** From the kill until the dead consumer held no pending event; undefined if that never came. */
  readonly recoveryMs: number | undefined
  readonly durationMs: number
}

/** Adds the events, kills a consumer once a third are recorded, and waits for the rest to drain. */
async function consumeWithKill(raw: Redis, names: Names, stream: Stream, fleet: Fleet): Promise<Run> {
  const started = Date.now()
  const producing = produce(stream)
  await waitFor(async () => (await raw.hlen(`${names.tag}:deliveries`)) >= short.events / 3, {
    timeoutMs: 30_000,
    intervalMs: 20,
    what: 'a third of the events recorded',
  })
  const killed = (await fleet.killOne({ restart: false }))?.split(' ')[1] ?? ''
  const killedAt = Date.now()
  const heldAtKill = await pending(raw, names, killed)
  let recoveryMs: number | undefined
  /** Notes when the dead consumer's events are all claimed, then whether every event is recorded and acked. */
  const drained = async () => {
    if (recoveryMs === undefined && (await pending(raw, names, killed)) === 0) recoveryMs = Date.now() - killedAt
    return (await raw.hlen(`${names.tag}:deliveries`)) === short.events && (await pending(raw, names)) === 0
  }
  await producing
  // A drain that does not finish shows in the results and fails the assertions.
  await waitFor(drained, {
    timeoutMs: short.drainTimeoutMs,
    intervalMs: 50,
    what: `${short.events} events recorded and acked`,
  }).catch(() => undefined)
  return { heldAtKill, recoveryMs, durationMs: Date.now() - started }
}

function streamingResult(run: Run, book: Ledger, unacked: number, fleet: Fleet): ScenarioResult {
  const n = (x: number) => x.toLocaleString('en-US')
  return {
    scenario: 'streaming',
    guarantee: 'no acked event lost; redeliveries marked',
    faults: { kill: fleet.kills },
    work: `${n(short.events)} events, ${n(book.deliveries)} deliveries, ${short.consumers} consumers`,
    lost: short.events - book.recorded + unacked,
    duplicates: book.duplicates,
    unrecordedDuplicates: book.unrecorded,
    recoveryMs: run.recoveryMs,
    durationMs: run.durationMs,
    details: {
      'events the killed consumer held unacked': run.heldAtKill,
      'events redelivered': book.redelivered,
      'ack grace period ms': short.ackGracePeriodMs,
      'events left pending': unacked,
      'consumer crashes': fleet.crashes.length,
    },
  }
}

it('streaming: with a sink consumer killed mid-run, every event is acked and recorded, and every extra record is a redelivery', async () => {
  const tag = `chaos-${randomUUID().slice(0, 8)}`
  const names: Names = { tag, stream: `${tag}-events`, sink: `${tag}-sink` }
  const raw = new Redis(redisUrl(), { maxRetriesPerRequest: 1 })
  const stream = new Stream(redisUrl(), names.stream, { maxLen: 0 })
  const fleet = new Fleet({
    entry,
    ready: /^ready /,
    args: () => [
      JSON.stringify({
        url: redisUrl(),
        recordUrl: redisUrl(),
        stream: names.stream,
        sink: names.sink,
        prefix: tag,
        ackGracePeriodMs: short.ackGracePeriodMs,
      }),
    ],
  })
  try {
    await fleet.start(short.consumers)
    const run = await consumeWithKill(raw, names, stream, fleet)
    const unacked = await pending(raw, names)
    const book = await ledger(raw, names)
    writeResult(streamingResult(run, book, unacked, fleet))

    expect({ recorded: book.recorded, unacked, unrecorded: book.unrecorded }).toEqual({
      recorded: short.events,
      unacked: 0,
      unrecorded: 0,
    })
    expect(run.heldAtKill, 'events the killed consumer held').toBeGreaterThan(0)
    expect(book.redelivered).toBeGreaterThanOrEqual(run.heldAtKill)
    expect(fleet.crashes, 'consumers that exited by themselves').toEqual([])
  } finally {
    await fleet.stop()
    await stream.close()
    await cleanUp(raw, names)
    await raw.quit()
  }
})
