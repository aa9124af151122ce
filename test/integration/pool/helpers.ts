/** Helpers of the pool tests: unique pool names, nodes closed after each test, recording handlers. */
import { randomUUID } from 'node:crypto'

import type { Redis } from 'ioredis'

import { PoolNode, type PoolOptions, type WorkerHandler } from '../../../actors/pool/index.js'
import { deleteByPrefix } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { waitFor } from '../../helpers/wait.js'

/**
 * Short timings, as the reference's tests use: dead members are found within a few hundred ms, and
 * unacknowledged events come back after 250 ms. The grace period is a little above the reference's
 * 50–100 ms because the dispatch timeout is twice it: on a loaded 2-core CI box, 200 ms was seen to pass
 * before a burst of starts was acknowledged. Tests about the grace period set their own.
 */
export const kFast: PoolOptions = {
  workerTtlMs: 300,
  ackGracePeriodMs: 250,
  jobSinkBlockMs: 50,
  workerShutdownTtlMs: 2_000,
}

export class Pools {
  readonly tag = `p${randomUUID().slice(0, 8)}`
  readonly #nodes: PoolNode[] = []
  readonly #names = new Set<string>()

  name(label = 'pool'): string {
    const name = `${this.tag}-${label}`
    this.#names.add(name)
    return name
  }

  async join(name: string, options: PoolOptions = {}): Promise<PoolNode> {
    const node = await PoolNode.join(redisUrl(), name, { ...kFast, ...options })
    this.#nodes.push(node)
    return node
  }

  async close(raw: Redis): Promise<void> {
    await Promise.all(this.#nodes.splice(0).map((node) => node.close().catch(() => undefined)))
    for (const name of this.#names) {
      // Worker streams are named after the worker only: those of workers still listed (a killed process's).
      const ids = new Set([
        ...(await raw.hkeys(`map:${name}:workers:content`)),
        ...(await raw.hkeys(`map:${name}:jobs:content`)),
      ])
      for (const id of ids) if (!id.startsWith('=')) await raw.del(`pulse:stream:worker:${id}`)
      await deleteByPrefix(raw, `map:${name}:`)
      await deleteByPrefix(raw, `pulse:stream:${name}:`)
    }
  }
}

export interface Recorded {
  readonly events: string[]
  /** Keys running on this handler now. */
  readonly running: Set<string>
  readonly payloads: Map<string, string>
  readonly notes: string[]
}

/** A handler that records `start:key`, `stop:key`, `notify:key:payload`; `running` holds what runs. */
export function recorder(
  options: { failStart?: (key: string) => Error | undefined; startMs?: number; notify?: boolean } = {},
): WorkerHandler & Recorded {
  const events: string[] = []
  const running = new Set<string>()
  const payloads = new Map<string, string>()
  const notes: string[] = []
  const handler: WorkerHandler & Recorded = {
    events,
    running,
    payloads,
    notes,
    async start(job) {
      events.push(`start:${job.key}`)
      // A slow start, when a test asks for one: the start's duration is its subject.
      if (options.startMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.startMs))
      const failure = options.failStart?.(job.key)
      if (failure !== undefined) throw failure
      if (running.has(job.key)) throw new Error(`double start of ${job.key}`)
      running.add(job.key)
      payloads.set(job.key, job.payload.toString())
    },
    stop(key) {
      events.push(`stop:${key}`)
      running.delete(key)
    },
  }
  if (options.notify !== false) {
    handler.notify = (key, payload) => {
      notes.push(`${key}:${payload.toString()}`)
    }
  }
  return handler
}

/** Resolves once `predicate` holds (checked every 10 ms); rejects after `ms`. */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = 'the condition',
): Promise<void> {
  await waitFor(predicate, { timeoutMs: ms, what })
}
