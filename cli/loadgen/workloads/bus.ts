/**
 * The `bus` workload on Pulse: a `Bus` under a key prefix of its own (removed after the round), one
 * subscriber on `lg.>`, `--concurrency` publishers calling `put('lg.x', …)`. An event is done when the
 * subscriber gets it. What it opens goes on a `DisposeStack`: `close()` releases all of it, last opened
 * first, even when a step fails, and once (later calls share the first).
 */
import { Bus } from '../../../actors/bus/index.js'
import { DisposeStack } from '../../../runtime/lifecycle.js'
import { deleteByPrefix } from '../redis-keys.js'
import { stampOf } from '../stamp.js'
import type { LoadTarget, TargetContext } from '../types.js'

export async function pulseBus(context: TargetContext): Promise<LoadTarget> {
  const keyPrefix = `loadgen:bus:${context.tag}:`
  const stack = new DisposeStack()
  stack.defer(() => deleteByPrefix(context.redisUrl, [keyPrefix]))
  const bus = stack.use(await Bus.connect(context.redisUrl, { namespaces: ['lg'], keyPrefix }))
  return {
    batch: 1,
    async start(delivered) {
      const subscription = bus.get('lg.>')
      let reading: Promise<void> = Promise.resolve()
      stack.defer(async () => {
        await subscription.return()
        await reading.catch(() => undefined)
      })
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
    close: () => stack.disposeAsync(),
  }
}
