/**
 * Chaos, rmap: replicas converge to Redis's hash, and counters are exact, across Redis restarts.
 *
 * The map lives on a redis-server of the scenario's own, with its append-only file written before each
 * reply (servers.ts). Two writer processes (fixtures/map-writer.ts) join it through a fault proxy and
 * write at once — their own counter, a shared counter, keys of their own — while the proxy cuts their
 * connections (commands and pub/sub), adds latency and black-holes the traffic, and the server
 * restarts as the writes pass given fractions of their total (the hash's revision counts them), in
 * turn after a SIGKILL (a crash) and after a SHUTDOWN. After each restart the test's own replica (not
 * proxied) writes a marker and waits until its copy holds it: the recovery. Then the faults stop, the
 * test writes `stop`, and each writer waits until its copy holds Redis's revision.
 *
 * Afterwards: every copy (both writers', the test's) equals the hash's content, and each counter holds
 * the increments that resolved, plus at most those that rejected (a rejected write may or may not have
 * happened). A counter above that counts an increment twice; below it, lost one.
 */
import { createHash, randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

import { Redis } from 'ioredis'
import { expect, it } from 'vitest'

import { ReplicatedMap } from '../../actors/rmap/index.js'
import type { LocalRedis, RedisStopMode } from '../../cli/local-servers/redis-server.js'
import { deleteByPrefix } from '../helpers/redis.js'
import { redisUrl } from '../helpers/servers.js'
import { type FaultStep, FaultLoop, mergeCounts, timelineOf } from './fault-loop.js'
import { FaultProxy } from './fault-proxy.js'
import { Fleet } from './fleet.js'
import { chaosSize } from './long.js'
import { type ScenarioResult, writeResult } from './results.js'
import { privateRedis, type Recovery, recoveryFigures, Restarts } from './servers.js'
import { waitFor } from './wait.js'

const size = {
  writers: ['a', 'b'],
  writes: chaosSize(15_000, 100_000),
  concurrency: 8,
  backoffMs: 100,
  /** The server restarts as the writes pass each of these fractions (after a SIGKILL and a SHUTDOWN in turn). */
  restartAt: chaosSize(
    [0.15, 0.35, 0.55, 0.75],
    Array.from({ length: 19 }, (_, i) => (i + 1) / 20),
  ),
  writeTimeoutMs: chaosSize(120_000, 900_000),
  convergeTimeoutMs: 30_000,
  markerTimeoutMs: 30_000,
}

const entry = fileURLToPath(new URL('./fixtures/map-writer.ts', import.meta.url))

interface Wrote {
  readonly resolved: Readonly<Record<string, number>>
  readonly rejected: Readonly<Record<string, number>>
}

interface Converged {
  readonly digest: string
  readonly size: number
  readonly revision: number
}

function proxyFaults(proxy: FaultProxy): FaultLoop {
  return new FaultLoop([
    { kind: 'cut', gapMs: 400, run: () => proxy.cut() },
    { kind: 'latency', gapMs: 300, run: () => proxy.latencyFor(1_000, 20) },
    { kind: 'cut', gapMs: 400, run: () => proxy.cut() },
    { kind: 'blackhole', gapMs: 400, run: () => proxy.blackholeFor(500) },
  ])
}

/** The digest of a content (sorted entries), as the writers compute it. */
function digestOf(content: Readonly<Record<string, string>>): string {
  const entries = Object.entries(content).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex')
}

/** The hash's content without its bookkeeping fields (`=rev`, `=kind`), and its revision. */
async function redisContent(raw: Redis, name: string): Promise<{ content: Record<string, string>; revision: number }> {
  const all = await raw.hgetall(`map:${name}:content`)
  const content = Object.fromEntries(Object.entries(all).filter(([k]) => !k.startsWith('=')))
  return { content, revision: Number(all['=rev'] ?? 0) }
}

const payload = <T>(line: string): T => JSON.parse(line.slice(line.indexOf(' ') + 1)) as T
const sumOf = (records: readonly Readonly<Record<string, number>>[], key: string) =>
  records.reduce((a, r) => a + (r[key] ?? 0), 0)

interface CounterCheck {
  readonly lost: number
  readonly doubled: number
  readonly ambiguous: number
}

/** Each counter against the increments that resolved (and those that rejected) for it. */
function checkCounters(content: Readonly<Record<string, string>>, wrote: readonly Wrote[]): CounterCheck {
  const counters = ['shared', ...size.writers.map((w) => `c-${w}`)]
  let lost = 0
  let doubled = 0
  let ambiguous = 0
  for (const key of counters) {
    const value = Number(content[key] ?? 0)
    const resolved = sumOf(
      wrote.map((w) => w.resolved),
      key,
    )
    const rejected = sumOf(
      wrote.map((w) => w.rejected),
      key,
    )
    lost += Math.max(0, resolved - value)
    doubled += Math.max(0, value - resolved - rejected)
    ambiguous += rejected
  }
  return { lost, doubled, ambiguous }
}

interface Run {
  readonly wrote: readonly Wrote[]
  readonly copies: readonly Converged[]
  readonly faults: Record<string, number>
  /** From each restart's end until the test's replica held a marker written after it. */
  readonly recoveries: readonly Recovery[]
  /** From the end of the faults to every writer's copy holding Redis's revision. */
  readonly convergedMs: number
  readonly durationMs: number
  readonly timeline: string[]
}

/** Resolves once the map's revision in Redis reaches `revision`; rejects when `signal` aborts. */
async function revisionReached(raw: Redis, name: string, revision: number, signal: AbortSignal): Promise<void> {
  for (;;) {
    const now = Number((await raw.hget(`map:${name}:content`, '=rev').catch(() => null)) ?? 0)
    if (now >= revision) return
    await sleep(50, undefined, { signal })
  }
}

/**
 * Once the writes reach `revision`, a restart, then a marker written from the test's replica once the
 * server is back (again until the write goes through) and awaited in its copy: the restart's recovery.
 */
function restartAndMark(
  io: { restarts: Restarts<RedisStopMode>; control: ReplicatedMap; raw: Redis; name: string },
  mode: RedisStopMode,
  revision: number,
  recoveries: Recovery[],
): FaultStep {
  const { restarts, control, raw, name } = io
  const step = restarts.step(mode, 0)
  return {
    ...step,
    after: (signal) => revisionReached(raw, name, revision, signal),
    run: async () => {
      await step.run()
      const window = restarts.windows.at(-1)
      if (window === undefined) return
      const deadline = window.readyAt + size.markerTimeoutMs
      for (let held = false; !held && Date.now() < deadline;) {
        held = await control.setAndWait(`restart-${restarts.windows.length}`, String(window.readyAt)).then(
          () => true,
          () => false,
        )
        if (!held) await sleep(50)
      }
      const ms = Date.now() < deadline ? Date.now() - window.readyAt : undefined
      recoveries.push({ window, ms })
    },
  }
}

/** The writers write under faults; then the faults stop, `stop` is written, and the copies catch up. */
async function writeUnderFaults(
  fleet: Fleet,
  proxy: FaultProxy,
  io: { restarts: Restarts<RedisStopMode>; control: ReplicatedMap; raw: Redis; name: string },
): Promise<Run> {
  const { control } = io
  const started = Date.now()
  const recoveries: Recovery[] = []
  const network = proxyFaults(proxy).start()
  const total = size.writers.length * size.writes
  const steps = size.restartAt.map((fraction, i) =>
    restartAndMark(io, i % 2 === 0 ? 'kill' : 'shutdown', Math.round(fraction * total), recoveries),
  )
  const server = new FaultLoop(steps, { rounds: 1 }).start()
  let wroteLines: string[]
  try {
    await control.set('go', '1')
    wroteLines = await fleet.waitForAll(/^wrote /, size.writeTimeoutMs)
  } finally {
    await Promise.all([network.stop(), server.stop()])
  }
  const faultsEnded = Date.now()
  await control.setAndWait('stop', '1')
  const convergedLines = await fleet.waitForAll(/^converged /, size.convergeTimeoutMs)
  return {
    wrote: wroteLines.map((l) => payload<Wrote>(l)),
    copies: convergedLines.map((l) => payload<Converged>(l)),
    faults: mergeCounts(network.counts, server.counts),
    recoveries,
    convergedMs: Date.now() - faultsEnded,
    durationMs: Date.now() - started,
    timeline: timelineOf(started, network.timeline, server.timeline),
  }
}

interface Outcome {
  /** Copies (of 3: the writers' and the test's) that differ from the hash. */
  readonly diverged: number
  readonly counters: CounterCheck
  /** Writes that resolved. */
  readonly writes: number
  readonly revision: number
}

async function outcomeOf(run: Run, raw: Redis, control: ReplicatedMap, name: string): Promise<Outcome> {
  const redis = await redisContent(raw, name)
  const expected = digestOf(redis.content)
  const diverged =
    run.copies.filter((c) => c.digest !== expected || c.revision !== redis.revision).length +
    (digestOf(control.toObject()) === expected ? 0 : 1)
  const writes = run.wrote.reduce((a, w) => a + Object.values(w.resolved).reduce((x, y) => x + y, 0), 0)
  return { diverged, counters: checkCounters(redis.content, run.wrote), writes, revision: redis.revision }
}

function rmapResult(run: Run, outcome: Outcome, proxy: FaultProxy): ScenarioResult {
  const { counters } = outcome
  const recovery = recoveryFigures(run.recoveries, "test's replica holding a marker written after it")
  return {
    scenario: 'rmap',
    guarantee: 'replicas converge; counters exact',
    faults: run.faults,
    work: `${outcome.writes.toLocaleString('en-US')} writes from 2 processes, ${counters.ambiguous} rejected`,
    lost: counters.lost + outcome.diverged,
    duplicates: 0,
    unrecordedDuplicates: counters.doubled,
    recoveryMs: recovery.longestMs,
    durationMs: run.durationMs,
    details: {
      ...recovery.details,
      'ms from the end of the faults to every copy holding the revision of Redis': run.convergedMs,
      'connections cut': proxy.stats.cut,
      'replicas diverged (of 3)': outcome.diverged,
      'increments lost': counters.lost,
      'increments applied twice': counters.doubled,
      'writes rejected (may or may not have applied)': counters.ambiguous,
      // Each write bumps the revision once; the test's `go` and `stop` and its markers are more.
      'revisions beyond the writes and the markers': outcome.revision - outcome.writes - 2 - run.recoveries.length,
      'final revision': outcome.revision,
    },
    timeline: run.timeline,
  }
}

async function convergence(server: LocalRedis, name: string, raw: Redis): Promise<void> {
  const control = await ReplicatedMap.join(server.url, name)
  const proxy = await FaultProxy.start(server.url)
  const restarts = new Restarts<RedisStopMode>(server)
  const fleet = new Fleet({
    entry,
    ready: /^joined$/,
    args: (slot) => [
      JSON.stringify({
        url: proxy.urlFor(server.url),
        directUrl: server.url,
        name,
        who: size.writers[slot],
        count: size.writes,
        concurrency: size.concurrency,
        backoffMs: size.backoffMs,
      }),
    ],
  })
  try {
    await fleet.start(size.writers.length)
    const run = await writeUnderFaults(fleet, proxy, { restarts, control, raw, name })
    const outcome = await outcomeOf(run, raw, control, name)
    writeResult(rmapResult(run, outcome, proxy))

    const { diverged, counters } = outcome
    expect({ diverged, lost: counters.lost, doubled: counters.doubled }).toEqual({ diverged: 0, lost: 0, doubled: 0 })
    expect(fleet.crashes, 'writers that exited by themselves').toEqual([])
    expect(restarts.windows.map((w) => w.kind)).toEqual(
      expect.arrayContaining(['restart (kill)', 'restart (shutdown)']),
    )
    expect(
      run.recoveries.filter((r) => r.ms === undefined),
      "restarts after which the test's replica never caught up",
    ).toEqual([])
  } finally {
    await fleet.stop()
    await proxy.close()
    await control.close()
  }
}

it(
  'rmap: under connection cuts and Redis restarts, every replica converges to the hash, and the counters hold every increment once',
  async () => {
    const name = `chaos-${randomUUID().slice(0, 8)}`
    const server = await privateRedis()
    const raw = new Redis(server.url, { maxRetriesPerRequest: 1 })
    raw.on('error', () => undefined)
    try {
      await convergence(server, name, raw)
    } finally {
      raw.disconnect()
      await server.close()
    }
  },
  chaosSize(180_000, 1_200_000),
)

it('rmap: increments whose replies are lost in a cut are applied once', async () => {
  const name = `chaos-${randomUUID().slice(0, 8)}`
  const raw = new Redis(redisUrl(), { maxRetriesPerRequest: 1 })
  const proxy = await FaultProxy.start(redisUrl())
  const map = await ReplicatedMap.join(proxy.urlFor(redisUrl()), name)
  try {
    // Requests and replies each wait 300 ms in the proxy: the cut lands after Redis applied the
    // increments and before their replies reach the map.
    proxy.latency(300)
    const incs = Array.from({ length: 100 }, () => map.inc('n'))
    await waitFor(async () => (await raw.hget(`map:${name}:content`, 'n')) === '100', {
      timeoutMs: 5_000,
      intervalMs: 10,
      what: 'Redis applied the 100 increments',
    })
    proxy.cut()
    proxy.latency(0)
    const settled = await Promise.allSettled(incs)
    const resolved = settled.filter((r) => r.status === 'fulfilled').length
    const value = Number(await raw.hget(`map:${name}:content`, 'n'))
    expect({ resolved, value }).toEqual({ resolved, value: 100 })
  } finally {
    await map.close()
    await proxy.close()
    await deleteByPrefix(raw, `map:${name}:`)
    await raw.quit()
  }
})
