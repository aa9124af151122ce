/**
 * The `sinks` workload on Pulse: a stream of its own (destroyed after the round), one `Sink` reading
 * from the oldest event and acking each one without waiting; `addMany` in chunks of 1,000 (bulk) or
 * one `add` per event (`--rate`). An event is done when the sink delivers it. What it opens goes on a
 * `DisposeStack`: `close()` releases all of it, last opened first, even when a step fails, and once; a
 * sink that fails to start does not leave the stream open.
 */
import { Stream } from '../../../actors/streaming/index.js'
import { DisposeStack } from '../../../runtime/lifecycle.js'
import { stampJson, stampOf } from '../stamp.js'
import type { LoadTarget, TargetContext } from '../types.js'

export async function pulseSinks(context: TargetContext): Promise<LoadTarget> {
  const stack = new DisposeStack()
  const stream = stack.use(new Stream(context.redisUrl, `loadgen-sinks-${context.tag}`, { maxLen: 0 }))
  stack.defer(() => stream.destroy())
  let reading: Promise<void> = Promise.resolve()
  const sink = await stream.newSink('loadgen', { start: 'oldest' }).catch(async (error: unknown) => {
    await stack.disposeAsync().catch(() => undefined)
    throw error
  })
  stack.defer(async () => {
    await sink.close()
    await reading.catch(() => undefined)
  })
  return {
    batch: 1_000,
    start(delivered) {
      reading = (async () => {
        for await (const event of sink) {
          const t = stampOf(event.payload)
          if (t !== undefined) delivered(t)
          void sink.ack(event).catch(() => undefined)
        }
      })()
      return Promise.resolve()
    },
    async send(t, count) {
      const payload = stampJson(t)
      if (count === 1) await stream.add('loadgen', payload)
      else await stream.addMany(Array.from({ length: count }, () => ({ name: 'loadgen', payload })))
    },
    close: () => stack.disposeAsync(),
  }
}
