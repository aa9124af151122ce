/**
 * The `sinks` workload on Pulse: a stream of its own (destroyed after the round), one `Sink` reading
 * from the oldest event and acking each one without waiting; `addMany` in chunks of 1,000 (bulk) or
 * one `add` per event (`--rate`). An event is done when the sink delivers it.
 */
import { Stream } from '../../../actors/streaming/index.js'
import { stampJson, stampOf } from '../stamp.js'
import type { LoadTarget, TargetContext } from '../types.js'

export async function pulseSinks(context: TargetContext): Promise<LoadTarget> {
  const stream = new Stream(context.redisUrl, `loadgen-sinks-${context.tag}`, { maxLen: 0 })
  const sink = await stream.newSink('loadgen', { start: 'oldest' })
  let reading: Promise<void> = Promise.resolve()
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
    async close() {
      await sink.close()
      await reading.catch(() => undefined)
      await stream.destroy()
      await stream.close()
    },
  }
}
