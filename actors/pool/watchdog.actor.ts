/**
 * The pool watchdog: one actor per `PoolNode`, on a runtime thread of its own. It writes the node's
 * and its workers' keep-alives and, on full nodes, runs the cleanup sweeps (PROTOCOL.md, "Cleanup").
 * Because it runs on its own thread, a handler that blocks the node's event loop does not stop the
 * keep-alives (the node is seen alive), and a killed process stops them all (it is seen dead).
 *
 * Messages (asks): `{ t: 'workers', ids }` — the local worker ids to keep alive (their keep-alives are
 * written before the reply); `{ t: 'active', id, timeoutMs }` — resolves once the router sees the worker; `{ t: 'sweep' }` — a sweep now; `{ t: 'stop' }`. It emits `{ t: 'log' }`.
 */
import { defineActor, type ActorContext } from '../../runtime/actor.js'
import { toWire, type WireError } from '../../runtime/errors.js'
import { createRedis, type PulseRedis } from '../../transports/redis/connection.js'
import type { KeyLayout } from '../../transports/redis/key-layout.js'
import { encodeJob, kPoolEvents } from '../../transports/redis/pool/codec.js'
import {
  cleanupMapName,
  jobMapName,
  jobPayloadMapName,
  kPoolSinkName,
  mapKeys,
  nodeKeepAliveMapName,
  nodeStreamName,
  pendingJobMapName,
  poolStreamName,
  streamKey,
  workerKeepAliveMapName,
  workerMapName,
  workerStreamName,
} from '../../transports/redis/pool/keys.js'
import { kPoolScripts, mapWrite } from '../../transports/redis/pool/scripts.js'
import type { ScriptArg } from '../../transports/redis/scripts.js'
import {
  formatUnixNanos,
  isWithinHorizon,
  msToUnixNanos,
  parseJobKeyList,
  pendingGuardState,
} from '../../transports/redis/pool/values.js'
import { allJobKeys, deadWorkers } from './membership.js'
import { isMemberId } from './names.js'
import { Router } from './router.js'
import { addPoolEvent } from './streams.js'

export interface WatchdogArgs {
  /** `redisUrlOf` the node's source: a `redis-cluster://` URL for a cluster. */
  readonly url: string
  readonly pool: string
  readonly keyLayout: KeyLayout
  readonly nodeId: string
  readonly clientOnly: boolean
  readonly keepAliveEveryMs: number
  readonly sweepEveryMs: number
  readonly staleAfterMs: number
  readonly orphanGraceMs: number
  readonly ackGracePeriodMs: number
  readonly jobSinkBlockMs: number
}

export type WatchdogMsg =
  { t: 'workers'; ids: string[] } | { t: 'active'; id: string; timeoutMs: number } | { t: 'sweep' } | { t: 'stop' }
export type WatchdogOut = {
  t: 'log'
  level: 'debug' | 'info' | 'warn' | 'error'
  message: string
  error?: WireError | undefined
  data?: Record<string, unknown> | undefined
}

function nowNs(): bigint {
  return msToUnixNanos(Date.now())
}

function content(raw: Record<string, string>): Map<string, string> {
  const map = new Map<string, string>()
  for (const [key, value] of Object.entries(raw)) if (!key.startsWith('=')) map.set(key, value)
  return map
}

class Watchdog {
  readonly #args: WatchdogArgs
  readonly #ctx: ActorContext
  readonly #redis: PulseRedis
  readonly #router: Router | undefined
  #workers: string[] = []
  #keepAliveTimer: NodeJS.Timeout | undefined
  #sweepTimer: NodeJS.Timeout | undefined
  #sweeping: Promise<void> | undefined
  #stopped = false
  /** Orphaned payload keys → when this node first saw them orphaned (ms). */
  readonly #orphans = new Map<string, number>()

  constructor(args: WatchdogArgs, ctx: ActorContext) {
    this.#args = args
    this.#ctx = ctx
    this.#redis = createRedis(args.url, { name: 'pulse-pool-watchdog' })
    if (!args.clientOnly) {
      const log =
        (level: WatchdogOut['level']) =>
        (...items: unknown[]): void => {
          const message = items.find((item) => typeof item === 'string') ?? ''
          const fields = items.find(
            (item): item is Record<string, unknown> => typeof item === 'object' && item !== null,
          )
          const { err, ...data } = fields ?? {}
          this.#log(level, message, err, data)
        }
      this.#router = new Router(
        {
          url: args.url,
          pool: args.pool,
          keyLayout: args.keyLayout,
          nodeId: args.nodeId,
          ackGracePeriodMs: args.ackGracePeriodMs,
          jobSinkBlockMs: args.jobSinkBlockMs,
          staleAfterMs: args.staleAfterMs,
        },
        { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
      )
    }
  }

  async start(): Promise<void> {
    await this.#router?.start()
    await this.#keepAlive()
    this.#keepAliveTimer = setInterval(() => void this.#keepAlive(), this.#args.keepAliveEveryMs)
    if (!this.#args.clientOnly) this.#armSweep()
  }

  /** The local workers to keep alive; their keep-alives are written at once when the list changed. */
  async setWorkers(ids: string[]): Promise<void> {
    if (ids.join(',') === this.#workers.join(',')) return
    this.#workers = ids
    await this.#keepAlive()
  }

  /** Whether the router sees worker `id` active (waits up to `timeoutMs` for its replicas). */
  async waitActive(id: string, timeoutMs: number): Promise<boolean> {
    return (await this.#router?.waitActive(id, timeoutMs)) ?? false
  }

  sweepNow(): Promise<void> {
    this.#sweeping ??= this.#sweep().finally(() => (this.#sweeping = undefined))
    return this.#sweeping
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#keepAliveTimer)
    clearTimeout(this.#sweepTimer)
    await this.#sweeping?.catch(() => undefined)
    await this.#router?.stop()
    await this.#redis.close().catch(() => undefined)
  }

  #log(level: WatchdogOut['level'], message: string, error?: unknown, data?: Record<string, unknown>): void {
    if (this.#stopped && level !== 'error') return
    this.#ctx.emit({
      t: 'log',
      level,
      message,
      ...(error === undefined ? {} : { error: toWire(error) }),
      ...(data === undefined ? {} : { data }),
    } satisfies WatchdogOut)
  }

  #armSweep(): void {
    if (this.#stopped) return
    // A little jitter, so the nodes of a pool do not sweep in step.
    const delay = Math.round(this.#args.sweepEveryMs * (0.9 + Math.random() * 0.2))
    this.#sweepTimer = setTimeout(() => {
      void this.sweepNow().finally(() => this.#armSweep())
    }, delay)
  }

  async #keepAlive(): Promise<void> {
    if (this.#stopped) return
    const now = formatUnixNanos(nowNs())
    const { pool, keyLayout: layout, nodeId } = this.#args
    const workers = workerKeepAliveMapName(pool, layout)
    try {
      await Promise.all([
        this.#write('set', nodeKeepAliveMapName(pool, layout), [nodeId, now]),
        ...this.#workers.map((wid) => this.#write('set', workers, [wid, now])),
      ])
    } catch (error) {
      this.#log('warn', 'pool: keep-alive write failed', error)
    }
  }

  /** The Redis keys of the pool's map `name` (a name from keys.ts, built for the pool's layout). */
  #keys(name: string): { readonly content: string; readonly updates: string } {
    return mapKeys(name, this.#args.keyLayout)
  }

  /** One of rmap's write scripts on the pool's map `name`. */
  #write(script: Parameters<typeof mapWrite>[1], name: string, args: readonly ScriptArg[]): Promise<unknown> {
    return mapWrite(this.#redis, script, name, this.#args.keyLayout, args)
  }

  async #hgetall(name: string): Promise<Map<string, string>> {
    return content(await this.#redis.client.hgetall(this.#keys(name).content))
  }

  async #lock(field: string, now: bigint): Promise<boolean> {
    const keys = this.#keys(cleanupMapName(this.#args.pool, this.#args.keyLayout))
    const taken = await kPoolScripts.cleanupLock.run(
      this.#redis,
      [keys.content, keys.updates],
      [field, formatUnixNanos(now), String(BigInt(this.#args.staleAfterMs) * 1_000_000n)],
    )
    return taken === 1
  }

  async #requeue(key: string, payload: Buffer, now: bigint): Promise<void> {
    const job = encodeJob({ key, nodeId: this.#args.nodeId, payload, createdAtNs: now, requeued: true })
    await addPoolEvent(this.#redis, this.#args.pool, this.#args.keyLayout, kPoolEvents.startJob, job)
  }

  async #dropGoneConsumers(nodes: Map<string, string>, now: bigint): Promise<void> {
    const { pool, keyLayout, nodeId, staleAfterMs } = this.#args
    const key = streamKey(poolStreamName(pool, keyLayout))
    let consumers: unknown
    try {
      consumers = await this.#redis.client.xinfo('CONSUMERS', key, kPoolSinkName)
    } catch {
      return // no stream or no group yet
    }
    if (!Array.isArray(consumers)) return
    for (const consumer of consumers) {
      if (!Array.isArray(consumer)) continue
      const fields = new Map<string, unknown>()
      for (let i = 0; i + 1 < consumer.length; i += 2) fields.set(String(consumer[i]), consumer[i + 1])
      const name = String(fields.get('name'))
      if (name === nodeId || !isMemberId(name)) continue
      if (Number(fields.get('pending')) !== 0 || Number(fields.get('idle')) < staleAfterMs) continue
      if (isWithinHorizon(nodes.get(name), now, staleAfterMs)) continue
      await this.#redis.client.xgroup('DELCONSUMER', key, kPoolSinkName, name)
    }
  }

  async #sweep(): Promise<void> {
    if (this.#stopped) return
    const { pool, keyLayout: layout, nodeId, staleAfterMs } = this.#args
    try {
      // Our own keep-alives first: after a stall of this thread, the sweep must not find its own workers stale.
      await this.#keepAlive()
      const now = nowNs()
      const [workers, keepAlives, cleanup, jobs, nodes, pending, payloadKeys] = await Promise.all([
        this.#hgetall(workerMapName(pool, layout)),
        this.#hgetall(workerKeepAliveMapName(pool, layout)),
        this.#hgetall(cleanupMapName(pool, layout)),
        this.#hgetall(jobMapName(pool, layout)),
        this.#hgetall(nodeKeepAliveMapName(pool, layout)),
        this.#hgetall(pendingJobMapName(pool, layout)),
        this.#redis.client.hkeys(this.#keys(jobPayloadMapName(pool, layout)).content),
      ])
      // Dead nodes: their stream and keep-alive go.
      for (const [id, value] of nodes) {
        if (id === nodeId || isWithinHorizon(value, now, staleAfterMs)) continue
        if (!(await this.#lock(`node:${id}`, now))) continue
        await this.#redis.client.del(streamKey(nodeStreamName(pool, id, layout)))
        await this.#write('testAndDelete', nodeKeepAliveMapName(pool, layout), [id, value])
        await this.#write('delete', cleanupMapName(pool, layout), [`node:${id}`])
        this.#log('info', 'pool: removed a dead node', undefined, { node: id })
      }
      // Dead workers: their jobs are requeued, then they are deregistered.
      const payloadsKey = this.#keys(jobPayloadMapName(pool, layout)).content
      for (const wid of deadWorkers(workers, jobs, keepAlives, cleanup, now, staleAfterMs)) {
        if (this.#stopped) return
        if (this.#workers.includes(wid)) continue // ours: alive, this thread writes its keep-alives
        if (!(await this.#lock(wid, now))) continue
        let complete = true
        for (const key of parseJobKeyList(jobs.get(wid) ?? '')) {
          try {
            // Off the list first: the claim of the requeue's worker refuses a key another list holds. A
            // requeue lost after this leaves the payload to orphan recovery.
            await this.#write('remove', jobMapName(pool, layout), [wid, key])
            const payload = await this.#redis.client.hgetBuffer(payloadsKey, key)
            if (payload !== null) await this.#requeue(key, payload, now)
          } catch (error) {
            complete = false
            this.#log('warn', 'pool: requeuing a dead worker job failed', error, { worker: wid, key })
          }
        }
        // On a partial failure the lock stays: it goes stale and the next cleaner resumes.
        if (!complete) continue
        await this.#write('delete', workerMapName(pool, layout), [wid])
        await this.#write('delete', workerKeepAliveMapName(pool, layout), [wid])
        await this.#write('delete', jobMapName(pool, layout), [wid])
        await this.#redis.client.del(streamKey(workerStreamName(pool, wid, layout)))
        await this.#write('delete', cleanupMapName(pool, layout), [wid])
        this.#log('info', 'pool: removed a dead worker', undefined, { worker: wid })
      }
      // Orphaned payloads: no owner and no dispatch in flight for orphanGraceMs → requeued once.
      const owned = new Set(allJobKeys(jobs))
      const seen = new Set<string>()
      const nowMs = Date.now()
      for (const key of payloadKeys) {
        if (key.startsWith('=') || owned.has(key)) continue
        const guard = pending.get(key)
        if (guard !== undefined && pendingGuardState(guard, now) === 'active') continue
        seen.add(key)
        const first = this.#orphans.get(key)
        if (first === undefined) {
          this.#orphans.set(key, nowMs)
          continue
        }
        if (nowMs - first < this.#args.orphanGraceMs) continue
        this.#orphans.delete(key)
        const payload = await this.#redis.client.hgetBuffer(payloadsKey, key)
        if (payload === null) continue
        await this.#requeue(key, payload, now)
        this.#log('info', 'pool: requeued an orphaned job', undefined, { key })
      }
      for (const key of this.#orphans.keys()) if (!seen.has(key)) this.#orphans.delete(key)
      // Consumers of the pool stream's group left by nodes that are gone, once nothing is pending on them
      // (their pending events were taken over by XAUTOCLAIM first).
      await this.#dropGoneConsumers(nodes, now)
      // Expired dispatch guards.
      for (const [key, value] of pending) {
        if (pendingGuardState(value, now) === 'stale')
          await this.#write('testAndDelete', pendingJobMapName(pool, layout), [key, value])
      }
    } catch (error) {
      this.#log('warn', 'pool: cleanup sweep failed', error)
    }
  }
}

export default defineActor<Watchdog, WatchdogMsg, WatchdogArgs>({
  async init(args, ctx) {
    const watchdog = new Watchdog(args, ctx)
    try {
      await watchdog.start()
    } catch (error) {
      await watchdog.stop()
      throw error
    }
    return watchdog
  },
  async receive(watchdog, msg, ctx) {
    switch (msg.t) {
      case 'workers':
        await watchdog.setWorkers(msg.ids)
        ctx.reply(true)
        break
      case 'active':
        ctx.reply(await watchdog.waitActive(msg.id, msg.timeoutMs))
        break
      case 'sweep':
        await watchdog.sweepNow()
        ctx.reply(true)
        break
      case 'stop':
        await watchdog.stop()
        ctx.reply(true)
        break
    }
    return watchdog
  },
  async stop(watchdog) {
    await watchdog.stop()
  },
})
