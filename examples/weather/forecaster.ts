// The forecaster: the sink `forecaster` of the stream `forecasts` (a consumer group: several forecaster
// processes split the events) caches the latest forecast of each location in the replicated map
// `forecasts`, which every process that joins it reads locally. An event is acked once the map has it;
// one the forecaster cannot read is acked and dropped (it would come back forever otherwise).
// Run alone: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/weather/forecaster.ts
import { ReplicatedMap } from 'pulse-runtime/rmap'
import { type Sink, type SinkEvent, Stream } from 'pulse-runtime/streaming'

import { readConfig } from './config.js'
import { isNewer, parseForecast } from './forecast.js'
import { type Log, runService } from './service.js'

/** Short sink timings: an event a dead forecaster held comes back within seconds; close waits ≤ 1 s. */
const kSinkOptions = { start: 'oldest', blockMs: 1_000, ackGracePeriodMs: 5_000 } as const

/** Writes the event's forecast to the map, unless the map holds a newer one of that location. */
async function cache(map: ReplicatedMap, event: SinkEvent, log: Log): Promise<void> {
  const forecast = parseForecast(event.payload.toString('utf8'))
  if (forecast === undefined) {
    log(`dropping event ${event.id}: not a forecast`)
    return
  }
  const cached = parseForecast(map.get(forecast.location) ?? '')
  if (cached !== undefined && !isNewer(forecast, cached)) return
  await map.set(forecast.location, JSON.stringify(forecast))
}

/** Caches every event the sink delivers; ends when the sink closes. */
async function consume(sink: Sink, map: ReplicatedMap, log: Log): Promise<void> {
  for await (const event of sink) {
    try {
      await cache(map, event, log)
      await sink.ack(event)
    } catch (error) {
      // Not acked: the event comes back after the grace period.
      if (!sink.closed) log(`event ${event.id} not cached: ${(error as Error).message}`)
    }
  }
}

const config = readConfig()
await runService('forecaster', async (signal, log) => {
  const stream = new Stream(config.redisUrl, config.names.stream)
  const map = await ReplicatedMap.join(config.redisUrl, config.names.map, { signal })
  // The signal closes the sink at the stop, which ends `consume`.
  const sink = await stream.newSink(config.names.sink, { ...kSinkOptions, signal })
  const consuming = consume(sink, map, log)
  log(`sink ${config.names.sink} of stream ${config.names.stream} → map ${config.names.map}`)
  return async () => {
    await sink.close()
    await consuming
    await map.close()
    await stream.close()
  }
})
