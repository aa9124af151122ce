/**
 * Chaos, pool: every dispatched key ends with exactly one owner and its payload, under SIGKILLs.
 *
 * Node processes (fixtures/pool-node.ts, each a full node with two workers) form one pool; the test
 * joins it as a client-only node and dispatches keys at a steady rate while a node is killed with
 * SIGKILL every few seconds (and started again). Each start is recorded in Redis with the process
 * that runs it and classified against the earlier holders of the key (see the fixture).
 *
 * The pool promises that a dispatch settles within 2 × ackGracePeriodMs: it resolves once the owner's
 * `start` resolved — a job that moves keeps its dispatch id, so a dispatcher still waiting gets the new
 * owner's outcome — or rejects with a typed error (`DispatchTimeoutError` when no outcome came in
 * time; the job is queued and still starts). A dispatch in flight to a killed node therefore either
 * resolves or times out: both count as recorded; a dispatch that never settles, or a key that does
 * not run at the end, is lost.
 *
 * Afterwards, once the pool converged (bounded): every key is owned by exactly one active worker
 * (`readPoolStatus`), its stored payload and the payload its `start` got are the dispatched one, and
 * exactly one live process holds it — that owner's. Every extra start is a job that moved after a kill
 * or a rebalance; a start while another live process held the key, or one nothing explains, is an
 * unrecorded duplicate. Recovery: from the last kill until the pool converged.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

import { Redis } from 'ioredis'
import { expect, it } from 'vitest'

import { PoolNode, type PoolOptions, readPoolStatus } from '../../actors/pool/index.js'
import { isPulseError } from '../../runtime/errors.js'
import { jobPayloadMapName, mapKeys } from '../../transports/redis/pool/keys.js'
import { deleteByPrefix } from '../helpers/redis.js'
import { redisUrl } from '../helpers/servers.js'
import { FaultLoop, type TimelineEntry, timelineOf } from './fault-loop.js'
import { Fleet } from './fleet.js'
import { chaosSize } from './long.js'
import { type ScenarioResult, writeResult } from './results.js'
import { waitFor } from './wait.js'

const size = chaosSize(
  { nodes: 3, keys: 360, perSecond: 30, killEveryMs: 2_000 },
  { nodes: 4, keys: 3_000, perSecond: 50, killEveryMs: 2_000 },
)
const workersPerNode = 2
const convergeTimeoutMs = 30_000

const options: PoolOptions = {
  workerTtlMs: 1_000,
  ackGracePeriodMs: 1_500,
  jobSinkBlockMs: 100,
  workerShutdownTtlMs: 5_000,
}
const dispatchTimeoutMs = 2 * (options.ackGracePeriodMs ?? 0)
const classes = ['fresh', 'after-kill', 'requeued', 'overlap', 'twice-here', 'unexplained'] as const
const entry = fileURLToPath(new URL('./fixtures/pool-node.ts', import.meta.url))

interface Names {
  readonly tag: string
  readonly pool: string
}

const payloadOf = (tag: string, i: number) => `${tag}/payload-${i}`

interface Dispatched {
  /** Key → outcome: `started`, `timeout` or the error's code; absent while it waits. */
  readonly outcomes: Map<string, string>
  readonly maxMs: number
  /** Per kill: the dispatches that were waiting then, and how each ended. */
  readonly inFlightAtKills: { started: number; timeout: number; other: number }
}

/** The outcome of a dispatch the pool refused with a typed error because its queue is full. */
const kRefused = 'PULSE_ERR_POOL_QUEUE_FULL'

/** Dispatches the keys at a steady rate (not waiting for each), noting the dispatches waiting at each kill. */
async function dispatchAll(client: PoolNode, tag: string, killedAt: readonly number[]): Promise<Dispatched> {
  const outcomes = new Map<string, string>()
  const spans: { key: string; from: number; to: number }[] = []
  const started = Date.now()
  const waiting: Promise<void>[] = []
  for (let i = 0; i < size.keys; i++) {
    const due = started + (i * 1_000) / size.perSecond
    if (due > Date.now()) await sleep(due - Date.now())
    const key = `k-${i}`
    const from = Date.now()
    waiting.push(
      client
        .dispatchJob(key, payloadOf(tag, i))
        .then(
          () => void outcomes.set(key, 'started'),
          (error: unknown) => {
            const code = isPulseError(error) ? error.code : 'untyped'
            outcomes.set(key, code === 'PULSE_ERR_POOL_DISPATCH_TIMEOUT' ? 'timeout' : code)
          },
        )
        .finally(() => spans.push({ key, from, to: Date.now() })),
    )
  }
  // Every dispatch settles within its timeout; one still waiting past twice that is lost.
  const bound = new AbortController()
  const late = sleep(2 * dispatchTimeoutMs + 5_000, undefined, { signal: bound.signal }).catch(() => undefined)
  await Promise.race([Promise.all(waiting), late])
  bound.abort()
  const inFlightAtKills = { started: 0, timeout: 0, other: 0 }
  for (const span of spans) {
    if (!killedAt.some((at) => span.from <= at && at <= span.to)) continue
    const outcome = outcomes.get(span.key)
    if (outcome === 'started' || outcome === 'timeout') inFlightAtKills[outcome]++
    else inFlightAtKills.other++
  }
  return { outcomes, maxMs: Math.max(0, ...spans.map((s) => s.to - s.from)), inFlightAtKills }
}

interface Snapshot {
  readonly converged: boolean
  /** Keys no active worker owns (or whose payload is missing). */
  readonly unowned: number
  /** Keys more than one active worker owns. */
  readonly ownedTwice: number
  /** Keys with a wrong stored payload, or whose `start` got a wrong one. */
  readonly wrongPayload: number
  /** Keys held by more than one live process, or by a live process that is not the owner's. */
  readonly wrongHolders: number
  readonly deadWorkersWithJobs: number
  /** What is wrong, key by key (the first few). */
  readonly notes: readonly string[]
}

/**
 * The pool as Redis holds it now, against the keys dispatched and the processes killed. A key whose
 * dispatch the pool refused (`QueueFullError`: `maxQueuedJobs` unconsumed jobs) was never accepted.
 */
async function snapshot(
  raw: Redis,
  names: Names,
  killed: ReadonlySet<number>,
  refused: ReadonlySet<string>,
): Promise<Snapshot> {
  const status = await readPoolStatus(raw, names.pool, { workerTtlMs: options.workerTtlMs })
  const owners = new Map<string, string[]>()
  let deadWorkersWithJobs = 0
  for (const worker of status?.workers ?? []) {
    if (worker.state !== 'active') {
      if (worker.jobs.length > 0) deadWorkersWithJobs++
      continue
    }
    for (const key of worker.jobs) owners.set(key, [...(owners.get(key) ?? []), worker.id])
  }
  const payloads = await raw.hgetall(mapKeys(jobPayloadMapName(names.pool, 'compat'), 'compat').content)
  const seen = await raw.hgetall(`${names.tag}:seen`)
  const workerPids = await raw.hgetall(`${names.tag}:workers`)
  const holders = await Promise.all(
    Array.from({ length: size.keys }, (_, i) => raw.smembers(`${names.tag}:holders:k-${i}`)),
  )
  const counts = { unowned: 0, ownedTwice: 0, wrongPayload: 0, wrongHolders: 0 }
  const notes: string[] = []
  for (let i = 0; i < size.keys; i++) {
    const key = `k-${i}`
    if (refused.has(key)) continue
    const owned = owners.get(key) ?? []
    if (owned.length === 0 || payloads[key] === undefined) counts.unowned++
    if (owned.length > 1) counts.ownedTwice++
    if (payloads[key] !== payloadOf(names.tag, i) || seen[key] !== payloadOf(names.tag, i)) counts.wrongPayload++
    const live = (holders[i] ?? []).filter((pid) => !killed.has(Number(pid)))
    if (live.length === 1 && owned.length === 1 && live[0] === workerPids[owned[0] ?? '']) continue
    counts.wrongHolders++
    const described = owned.map((id) => `${id} (pid ${workerPids[id] ?? '?'})`).join(', ')
    if (notes.length < 10)
      notes.push(`${key}: owners ${described || 'none'}; live holders ${live.join(', ') || 'none'}`)
  }
  const converged =
    Object.values(counts).every((n) => n === 0) && deadWorkersWithJobs === 0 && (status?.unownedJobs.length ?? 0) === 0
  return { converged, ...counts, deadWorkersWithJobs, notes }
}

/** Starts per class (see the fixture), summed over the keys. */
async function startClasses(raw: Redis, tag: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const kind of classes) {
    const values = await raw.hvals(`${tag}:class:${kind}`)
    out[kind] = values.reduce((sum, v) => sum + Number(v), 0)
  }
  return out
}

async function cleanUp(raw: Redis, names: Names): Promise<void> {
  // Worker streams are named after the worker only (the compat layout).
  const ids = new Set([
    ...(await raw.hkeys(`map:${names.pool}:workers:content`)),
    ...(await raw.hkeys(`map:${names.pool}:jobs:content`)),
    ...(await raw.hkeys(`${names.tag}:workers`)),
  ])
  for (const id of ids) if (!id.startsWith('=')) await raw.del(`pulse:stream:worker:${id}`)
  await deleteByPrefix(raw, `map:${names.pool}:`)
  await deleteByPrefix(raw, `pulse:stream:${names.pool}:`)
  await deleteByPrefix(raw, `${names.tag}:`)
}

interface Run {
  readonly dispatched: Dispatched
  readonly end: Snapshot
  readonly recoveryMs: number | undefined
  readonly durationMs: number
  readonly faults: Record<string, number>
  readonly timeline: string[]
}

/** Dispatches under kills, then waits (bounded) for the pool to converge. */
async function dispatchUnderKills(raw: Redis, names: Names, client: PoolNode, fleet: Fleet): Promise<Run> {
  const started = Date.now()
  const killedAt: number[] = []
  // A kill waits until at most one node is down (starting again), so two may be down at once.
  const kill = async () => {
    await fleet.ready(size.nodes - 1)
    await fleet.killOne()
    killedAt.push(Date.now())
  }
  const kills = new FaultLoop([{ kind: 'kill', gapMs: size.killEveryMs, run: kill }]).start()
  const marks: TimelineEntry[] = []
  const mark = (what: string) => marks.push({ at: Date.now(), what })
  const dispatching = dispatchAll(client, names.tag, killedAt)
  await sleep((size.keys * 1_000) / size.perSecond)
  await kills.stop()
  mark('kills stopped')
  await fleet.ready(size.nodes)
  mark('every node ready')
  const dispatched = await dispatching
  mark('every dispatch settled')
  const refused = new Set([...dispatched.outcomes].filter(([, o]) => o === kRefused).map(([key]) => key))
  let end = await snapshot(raw, names, fleet.killedPids, refused)
  await waitFor(
    async () => {
      end = await snapshot(raw, names, fleet.killedPids, refused)
      return end.converged
    },
    { timeoutMs: convergeTimeoutMs, intervalMs: 100, what: 'the pool to converge' },
  ).catch(() => undefined)
  mark(end.converged ? 'converged' : `not converged: ${end.notes.join('; ')}`)
  for (const line of await raw.lrange(`${names.tag}:log`, 0, 400)) {
    const [at, ...rest] = line.split(' ')
    marks.push({ at: Number(at), what: rest.join(' ') })
  }
  const lastKill = killedAt.at(-1)
  return {
    dispatched,
    end,
    recoveryMs: end.converged && lastKill !== undefined ? Date.now() - lastKill : undefined,
    durationMs: Date.now() - started,
    faults: Object.fromEntries(kills.counts),
    timeline: timelineOf(started, kills.timeline, marks),
  }
}

function tally(outcomes: ReadonlyMap<string, string>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const outcome of outcomes.values()) out[outcome] = (out[outcome] ?? 0) + 1
  return out
}

function poolResult(run: Run, starts: Record<string, number>, fleet: Fleet, startMs: number): ScenarioResult {
  const n = (x: number) => x.toLocaleString('en-US')
  const byOutcome = tally(run.dispatched.outcomes)
  const unsettled = size.keys - run.dispatched.outcomes.size
  const total = Object.values(starts).reduce((a, b) => a + b, 0)
  const recorded = (starts['after-kill'] ?? 0) + (starts.requeued ?? 0)
  const unexplained = (starts.overlap ?? 0) + (starts['twice-here'] ?? 0) + (starts.unexplained ?? 0)
  const { inFlightAtKills } = run.dispatched
  return {
    scenario: 'pool',
    guarantee: 'one owner per key; dispatches settle, typed',
    faults: run.faults,
    work: `${n(size.keys)} keys dispatched to ${size.nodes} nodes × ${workersPerNode} workers, ${n(total)} starts`,
    lost: run.end.unowned + unsettled,
    duplicates: recorded,
    unrecordedDuplicates: unexplained + run.end.ownedTwice + run.end.wrongHolders,
    recoveryMs: run.recoveryMs,
    durationMs: run.durationMs,
    details: {
      ...Object.fromEntries(Object.entries(byOutcome).map(([outcome, count]) => [`dispatches ${outcome}`, count])),
      'dispatches never settled': unsettled,
      'dispatches in flight at a kill: resolved': inFlightAtKills.started,
      'dispatches in flight at a kill: DispatchTimeoutError': inFlightAtKills.timeout,
      'dispatches in flight at a kill: other': inFlightAtKills.other,
      'longest dispatch ms': run.dispatched.maxMs,
      ...Object.fromEntries(classes.map((kind) => [`starts ${kind}`, starts[kind] ?? 0])),
      'keys owned twice at the end': run.end.ownedTwice,
      'keys with a wrong payload at the end': run.end.wrongPayload,
      'keys held by a wrong process at the end': run.end.wrongHolders,
      'dead workers still owning jobs': run.end.deadWorkersWithJobs,
      'ms to start the nodes': startMs,
      'node starts that failed': fleet.failedStarts,
      'node crashes': fleet.crashes.length,
    },
    timeline: run.timeline,
  }
}

it('pool: with nodes killed while keys are dispatched, every key ends with exactly one owner and its payload', async () => {
  const tag = `chaos-${randomUUID().slice(0, 8)}`
  const names: Names = { tag, pool: `${tag}-pool` }
  const raw = new Redis(redisUrl(), { maxRetriesPerRequest: 1 })
  const fleet = new Fleet({
    entry,
    ready: /^ready /,
    args: () => [
      JSON.stringify({
        url: redisUrl(),
        recordUrl: redisUrl(),
        pool: names.pool,
        prefix: tag,
        workers: workersPerNode,
        options,
      }),
    ],
  })
  let client: PoolNode | undefined
  try {
    const starting = Date.now()
    await fleet.start(size.nodes)
    const startMs = Date.now() - starting
    client = await PoolNode.join(redisUrl(), names.pool, { ...options, clientOnly: true })
    const run = await dispatchUnderKills(raw, names, client, fleet)
    const starts = await startClasses(raw, tag)
    const result = poolResult(run, starts, fleet, startMs)
    writeResult(result)

    expect(result.details['dispatches never settled'], 'dispatches that never settled').toBe(0)
    const { notes, ...end } = run.end
    expect(end, `the pool at the end: ${notes.join('; ')}`).toEqual({
      converged: true,
      unowned: 0,
      ownedTwice: 0,
      wrongPayload: 0,
      wrongHolders: 0,
      deadWorkersWithJobs: 0,
    })
    expect({ overlap: starts.overlap, twiceHere: starts['twice-here'], unexplained: starts.unexplained }).toEqual({
      overlap: 0,
      twiceHere: 0,
      unexplained: 0,
    })
    const outcomes = new Set(run.dispatched.outcomes.values())
    expect(
      [...outcomes].filter((o) => o !== 'started' && o !== 'timeout' && o !== kRefused),
      'other dispatch outcomes',
    ).toEqual([])
    expect(fleet.kills, 'kills').toBeGreaterThan(0)
    expect(fleet.crashes, 'nodes that exited by themselves').toEqual([])
  } finally {
    await client?.close().catch(() => undefined)
    await fleet.stop()
    await cleanUp(raw, names)
    await raw.quit()
  }
})
