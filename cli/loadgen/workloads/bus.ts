/**
 * The `bus` workload on Pulse: a `Bus` under a key prefix of its own (removed after the round), one
 * subscriber on `lg.>`, `--concurrency` publishers calling `put('lg.x', …)`. An event is done when the
 * subscriber gets it.
 */
import { Bus, type Subscription } from '../../../actors/bus/index.js'
import { deleteByPrefix } from '../redis-keys.js'
import { stampOf } from '../stamp.js'
import type { LoadTarget, TargetContext } from '../types.js'

export async function pulseBus(context: TargetContext): Promise<LoadTarget> {
  const keyPrefix = `loadgen:bus:${context.tag}:`
  const bus = await Bus.connect(context.redisUrl, { namespaces: ['lg'], keyPrefix })
  let sub: Subscription | undefined
  let reading: Promise<void> = Promise.resolve()
  return {
    batch: 1,
    async start(delivered) {
      const subscription = bus.get('lg.>')
      sub = subscription
      await subscription.ready
      reading = (async () => {
        for await (const event of subscription) {
          const t = stampOf(event.payload)
          if (t !== undefined) delivered(t)
        }
      })()
    },
    async send(t) {
      await bus.put('lg.x', { t })
    },
    async close() {
      await sub?.return()
      await reading.catch(() => undefined)
      await bus.close()
      await deleteByPrefix(context.redisUrl, [keyPrefix])
    },
  }
}
