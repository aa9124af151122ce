/**
 * A worker whose keep-alives stop reaching Redis for longer than `workerTtlMs` looks dead to the other
 * nodes, but is alive and keeps its `P:jobs` list. A start event for one of its keys that comes back
 * meanwhile (XAUTOCLAIM: its start was not acknowledged in time) goes to another worker, whose ownership
 * claim must not admit a second owner: when the lapse ends, both workers are active again.
 *
 * The lapse is node A's path to Redis held (a black hole of a measured span: keep-alives, acks and reads
 * all wait, as for a process that is not scheduled). It starts inside the `start` of A's worker, after its
 * claim, so the start's ack is held too. A cleaner that removed A's worker in time would end the race
 * the other way (its jobs requeued, the worker dropped); the test holds A's worker's cleanup lock for the
 * lapse's span, as a cleaner killed before it removed anything leaves it, so the lapse ends first.
 */
import { afterEach, expect, it } from 'vitest'

import { DispatchTimeoutError } from '../../../runtime/errors.js'
import { PoolNode, readPoolStatus, type PoolStatus } from '../../../actors/pool/index.js'
import { routeKey } from '../../../actors/pool/jump-hash.js'
import { decodeEnvelope, peekJobKey } from '../../../transports/redis/pool/codec.js'
import {
  cleanupMapName,
  mapKeys,
  poolStreamName,
  streamKey,
  workerStreamName,
} from '../../../transports/redis/pool/keys.js'
import { kPoolScripts, mapWrite } from '../../../transports/redis/pool/scripts.js'
import { formatUnixNanos, msToUnixNanos } from '../../../transports/redis/pool/values.js'
import { FaultProxy } from '../../chaos/fault-proxy.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { kFast, Pools, recorder, until } from './helpers.js'

const raw = useRawRedis()
let pools: Pools
let proxy: FaultProxy | undefined
afterEach(async () => {
  proxy?.hold(false)
  await pools.close(raw)
  await proxy?.close()
  proxy = undefined
})

/** The chaos scenario's ttl; a grace period well under it, so the start event comes back during the lapse. */
const ttlMs = 1_000
const options = { ...kFast, workerTtlMs: ttlMs, ackGracePeriodMs: 250 }

/** Whether a start event (`j`) for `key` was handed to the worker `wid`'s stream. */
async function handedTo(pool: string, wid: string, key: string): Promise<boolean> {
  const entries = await raw.xrangeBuffer(streamKey(workerStreamName(pool, wid, 'compat')), '-', '+')
  return entries.some(([, fields]) => {
    if (fields[0]?.toString() !== 'n' || fields[1]?.toString() !== 'j' || fields[3] === undefined) return false
    return peekJobKey(decodeEnvelope(fields[3]).payload) === key
  })
}

function ownersOf(status: PoolStatus | undefined, key: string): { id: string; active: boolean }[] {
  return (status?.workers ?? [])
    .filter((w) => w.jobs.includes(key))
    .map((w) => ({ id: w.id, active: w.state === 'active' }))
}

it('a key stays with one active owner through a keep-alive lapse longer than workerTtlMs', async () => {
  pools = new Pools()
  const name = pools.name()
  proxy = await FaultProxy.start(redisUrl())
  const held = proxy
  // Node A reaches Redis through the proxy; node B directly.
  const nodeA = await PoolNode.join(held.urlFor(redisUrl()), name, options)
  const nodeB = await pools.join(name, options)
  let key = ''
  let lapsing = false
  let lastSeen = 0
  const handlerA = recorder()
  const startA = handlerA.start.bind(handlerA)
  handlerA.start = async (job) => {
    await startA(job)
    if (job.key === key && !lapsing) {
      held.hold(true) // the lapse: from here on nothing of node A reaches Redis
      lapsing = true
    }
  }
  const handlerB = recorder()
  try {
    const workerA = await nodeA.addWorker(handlerA)
    const workerB = await nodeB.addWorker(handlerB)
    const order = (await nodeB.poolWorkers()).map((w) => w.id)
    expect([...order].sort()).toEqual([workerA.id, workerB.id].sort())
    // A key whose bucket is A's worker's.
    for (let i = 0; key === ''; i++) if (order[routeKey(`k${i}`, 2)] === workerA.id) key = `k${i}`

    const dispatch = nodeB.dispatchJob(key, 'payload').then(
      () => 'resolved',
      (error: unknown) => error,
    )
    await until(() => lapsing, 10_000, 'A’s worker to start the key')
    // A cleaner takes A's worker's lock and holds it while the lapse lasts.
    const cleanup = mapKeys(cleanupMapName(name, 'compat'), 'compat')
    const lockNow = () => formatUnixNanos(msToUnixNanos(Date.now()))
    const taken = await kPoolScripts.cleanupLock.run(
      raw,
      [cleanup.content, cleanup.updates],
      [workerA.id, lockNow(), String(BigInt(ttlMs) * 1_000_000n)],
    )
    expect(taken).toBe(1)
    const relock = setInterval(
      () =>
        void mapWrite(raw, 'set', cleanupMapName(name, 'compat'), 'compat', [workerA.id, lockNow()]).catch(
          () => undefined,
        ),
      ttlMs / 4,
    )
    try {
      // The start event comes back (XAUTOCLAIM) and goes to B's worker, the only active one.
      await until(() => handedTo(name, workerB.id, key), 10_000, 'the start event to reach B’s worker')
      // And A's keep-alive lapsed past the ttl.
      await until(
        async () => {
          const status = await readPoolStatus(raw, name, { workerTtlMs: ttlMs })
          lastSeen = status?.workers.find((w) => w.id === workerA.id)?.lastSeen?.getTime() ?? Date.now()
          return Date.now() - lastSeen > ttlMs
        },
        10_000,
        'A’s keep-alive to be older than the ttl',
      )
    } finally {
      clearInterval(relock)
    }
    held.hold(false) // the lapse ends
    const keepAliveGapMs = Date.now() - lastSeen
    expect(keepAliveGapMs).toBeGreaterThan(ttlMs)

    // Converged: A's worker is active again (its lock went stale) and every pool event is settled.
    const bound = 3 * ttlMs + 4 * options.ackGracePeriodMs
    let status: PoolStatus | undefined
    await until(
      async () => {
        status = await readPoolStatus(raw, name, { workerTtlMs: ttlMs })
        const active = (status?.workers ?? []).filter((w) => w.state === 'active').map((w) => w.id)
        const queued = await raw.xlen(streamKey(poolStreamName(name, 'compat')))
        return active.includes(workerA.id) && active.includes(workerB.id) && queued === 0
      },
      bound,
      `both workers active and the pool stream empty within ${bound} ms of the lapse's end`,
    )
    expect(ownersOf(status, key)).toEqual([{ id: workerA.id, active: true }])
    expect(status?.unownedJobs).toEqual([])
    expect(handlerA.running.has(key)).toBe(true)
    expect(handlerB.running.has(key)).toBe(false)
    expect(handlerB.events).not.toContain(`start:${key}`)
    const outcome = await dispatch
    expect(outcome === 'resolved' || outcome instanceof DispatchTimeoutError, String(outcome)).toBe(true)
  } finally {
    held.hold(false)
    await nodeA.close().catch(() => undefined)
  }
})
