// The poller: a node of the pool `weather` whose jobs are one per location. A schedule plans them (at
// once, then every few seconds on one node of the pool, which restarts a job that got lost); the pool
// routes each job to one worker of one poller process; the job polls the stand-in API every
// WEATHER_POLL_MS and adds each forecast to the stream `forecasts`. Run several: the jobs spread out,
// and those of a poller that leaves move to the others.
// Run alone: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/weather/poller.ts
import { setTimeout as delay } from 'node:timers/promises'

import { type Job, type JobProducer, PoolNode, type WorkerHandler } from 'pulse-runtime/pool'
import { Stream } from 'pulse-runtime/streaming'

import { readConfig, type WeatherConfig } from './config.js'
import { parseForecast } from './forecast.js'
import { type Log, runService } from './service.js'

/** Short pool timings, so that a poller that dies hands its jobs over within seconds. */
const kPoolOptions = { workerTtlMs: 6_000, ackGracePeriodMs: 3_000, jobSinkBlockMs: 1_000 }
/** How often the schedule plans the jobs again. */
const kPlanEveryMs = 5_000
/** How long one request to the API may take. */
const kRequestTimeoutMs = 2_000

/** A running job: its poll loop, which `stop` ends. */
interface Poll {
  stop(): Promise<void>
}

async function pollOnce(config: WeatherConfig, stream: Stream, location: string, signal: AbortSignal): Promise<void> {
  const url = `${config.apiUrl}/forecast?location=${encodeURIComponent(location)}`
  const res = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(kRequestTimeoutMs)]) })
  const text = await res.text()
  if (!res.ok) throw new Error(`the API answered ${res.status}: ${text.slice(0, 200)}`)
  const forecast = parseForecast(text)
  if (forecast === undefined || forecast.location !== location) throw new Error('the API answered no forecast')
  await stream.add('forecast', JSON.stringify(forecast), { topic: location })
}

/** `fetch failed (ECONNREFUSED)`: the message with its cause's code, when there is one. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const code = (error.cause as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? `${error.message} (${code})` : error.message
}

/** Polls `location` every `pollMs` until stopped; a failed poll is logged and the next one comes. */
function startPoll(config: WeatherConfig, stream: Stream, location: string, log: Log): Poll {
  const stop = new AbortController()
  const loop = async () => {
    while (!stop.signal.aborted) {
      await pollOnce(config, stream, location, stop.signal).catch((error: unknown) => {
        if (!stop.signal.aborted) log(`${location}: poll failed: ${describe(error)}`)
      })
      await delay(config.pollMs, undefined, { signal: stop.signal }).catch(() => undefined)
    }
  }
  const done = loop()
  return {
    stop() {
      stop.abort()
      return done
    },
  }
}

/** The worker: a job's start begins the poll of its location, its stop ends it. */
function pollingWorker(config: WeatherConfig, stream: Stream, log: Log): WorkerHandler {
  const polls = new Map<string, Poll>()
  return {
    async start(job: Job) {
      await polls.get(job.key)?.stop()
      polls.set(job.key, startPoll(config, stream, job.key, log))
      log(`polling ${job.key}${job.requeued ? ' (requeued)' : ''}`)
    },
    async stop(key: string) {
      const poll = polls.get(key)
      polls.delete(key)
      await poll?.stop()
      log(`stopped polling ${key}`)
    },
  }
}

/** One job per configured location; a running one is refused (JobExistsError) and keeps running. */
function locationPlan(config: WeatherConfig): JobProducer {
  return {
    name: 'locations',
    plan: () => ({ start: config.locations.map((location) => ({ key: location, payload: location })) }),
  }
}

const config = readConfig()
await runService('poller', async (_signal, log) => {
  const stream = new Stream(config.redisUrl, config.names.stream)
  const node = await PoolNode.join(config.redisUrl, config.names.pool, kPoolOptions)
  await node.addWorker(pollingWorker(config, stream, log))
  await node.schedule(locationPlan(config), kPlanEveryMs)
  log(`in pool ${config.names.pool} as node ${node.id}; polling ${config.apiUrl} every ${config.pollMs} ms`)
  return async () => {
    await node.close() // stops this node's jobs (their polls end) and requeues them to the other pollers
    await stream.close()
  }
})
