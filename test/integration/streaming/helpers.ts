/** Helpers of the streaming tests: unique names, bounded takes from subscriptions, cleanup of keys. */
import { randomUUID } from 'node:crypto'

import { Redis } from 'ioredis'

import type { Reader, Sink, Stream } from '../../../actors/streaming/index.js'
import { withTimeout } from '../../../runtime/lifecycle.js'
import { deleteByPrefix } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { waitFor } from '../../helpers/wait.js'

/** What a test opened, closed after it; and the names whose keys it deletes. */
export class Opened {
  readonly #closables: { close(): Promise<void> }[] = []
  readonly tag = `t${randomUUID().slice(0, 8)}`

  /** A unique stream or sink name (its keys are deleted after the test). */
  name(label: string): string {
    return `${this.tag}-${label}`
  }

  add<T extends Stream | Reader | Sink | { close(): Promise<void> }>(closable: T): T {
    this.#closables.push(closable)
    return closable
  }

  async close(raw: Redis): Promise<void> {
    for (const closable of this.#closables.splice(0).reverse()) await closable.close().catch(() => undefined)
    for (const prefix of ['pulse:stream:', 'map:stream:', 'map:sink:', 'sink:']) {
      await deleteByPrefix(raw, `${prefix}${this.tag}-`)
      await deleteByPrefix(raw, `${prefix}{${this.tag}-`) // the cluster key layout
    }
  }
}

export function rawClient(): Redis {
  return new Redis(redisUrl(), { lazyConnect: false, maxRetriesPerRequest: 1 })
}

/** Takes the next `n` items of an async iterator, within `ms`. */
export async function take<T>(iterator: AsyncIterator<T>, n: number, ms = 10_000, what = `${n} events`): Promise<T[]> {
  const taken: T[] = []
  const run = async () => {
    while (taken.length < n) {
      const next = await iterator.next()
      if (next.done === true) throw new Error(`the subscription ended after ${taken.length} of ${what}`)
      taken.push(next.value)
    }
    return taken
  }
  return withTimeout(run(), ms, () => new Error(`got ${taken.length} of ${what} within ${ms} ms`))
}

/** Resolves once `predicate` holds, polling Redis-side state every 10 ms; rejects after `ms`. */
export async function eventually(
  predicate: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = 'the condition',
): Promise<void> {
  await waitFor(predicate, { timeoutMs: ms, what })
}
