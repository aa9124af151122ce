/** Helpers of the bus tests: a bus on a unique key prefix, bounded takes, cleanup. */
import { Redis } from 'ioredis'

import { Bus } from '../../../actors/bus/index.js'
import type { BusEvent, BusOptions } from '../../../actors/bus/index.js'
import { withTimeout } from '../../../runtime/lifecycle.js'
import { deleteByPrefix, testPrefix } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'

export class Opened {
  readonly prefix = `${testPrefix()}bus:`
  readonly #closables: { close(): Promise<void> }[] = []

  add<T extends { close(): Promise<void> }>(closable: T): T {
    this.#closables.push(closable)
    return closable
  }

  bus(options: Partial<BusOptions> = {}): Promise<Bus> {
    return Bus.connect(redisUrl(), {
      namespaces: ['a', 'b', 'rpc'],
      keyPrefix: this.prefix,
      heartbeatMs: 1_000,
      ...options,
    }).then((bus) => this.add(bus))
  }

  async close(): Promise<void> {
    for (const closable of this.#closables.splice(0).reverse()) await closable.close().catch(() => undefined)
    const raw = new Redis(redisUrl(), { maxRetriesPerRequest: 1 })
    try {
      await deleteByPrefix(raw, this.prefix)
    } finally {
      await raw.quit()
    }
  }
}

/** Takes the next `n` events of an iterator within `ms`. */
export async function take(iterator: AsyncIterator<BusEvent>, n: number, ms = 10_000): Promise<BusEvent[]> {
  const taken: BusEvent[] = []
  const run = async () => {
    while (taken.length < n) {
      const next = await iterator.next()
      if (next.done === true) throw new Error(`the subscription ended after ${taken.length} of ${n} events`)
      taken.push(next.value)
    }
    return taken
  }
  return withTimeout(run(), ms, () => new Error(`got ${taken.length} of ${n} events within ${ms} ms`))
}

export const text = (event: BusEvent): string => event.payload.toString('utf8')
