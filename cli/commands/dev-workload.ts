/**
 * The example workload of `pulse dev`: every feature of one `Runtime` at work, so that the local
 * deployment shows them all (and `pulse` tools and the dashboard have something to look at):
 *
 * - jobs: `demo:greet` handled here, 100 at start, then one every 2 s by a schedule;
 * - a stream `dev-events` that gets an event every 2 s, read and acked by the sink `dev-audit`;
 * - a pool `dev` with two workers running four long-lived jobs;
 * - a replicated map `dev-status` holding the counts below;
 * - the bus: a `dev.tick` every 2 s, read by a subscription on `dev.>`.
 *
 * `status()` is the one-line summary `pulse dev` prints every few seconds.
 */
import type { Bus, Subscription } from '../../actors/bus/index.js'
import { every } from '../../actors/jobs/index.js'
import type { WorkerHandler } from '../../actors/pool/index.js'
import type { Runtime } from '../../actors/runtime/index.js'
import type { Sink } from '../../actors/streaming/index.js'

export interface DemoWorkload {
  status(): string
  close(): Promise<void>
}

const kTickMs = 2_000
const kPoolJobs = ['dev-job-1', 'dev-job-2', 'dev-job-3', 'dev-job-4']

interface Counts {
  jobs: number
  events: number
  bus: number
  running: Set<string>
}

export async function startDemoWorkload(rt: Runtime, log: (line: string) => void): Promise<DemoWorkload> {
  const counts: Counts = { jobs: 0, events: 0, bus: 0, running: new Set() }
  const stopped = new AbortController()
  await startJobs(rt, counts)
  const sink = await startStream(rt, counts, stopped.signal)
  await startPool(rt, counts)
  const map = await rt.map('dev-status')
  const bus = await rt.bus({ namespaces: ['dev'] })
  const subscription = readBus(bus, counts)
  const ticks = setInterval(() => void tick(rt, bus, counts, map.set.bind(map)), kTickMs)
  log(
    'workload: jobs demo:greet, stream dev-events with sink dev-audit, pool dev with 2 workers, map dev-status, bus dev.>',
  )
  return {
    status: () => {
      const stats = rt.jobs.load
      return (
        `status: jobs ${counts.jobs} handled (${stats.running} running), stream ${counts.events} events read, ` +
        `pool ${counts.running.size} jobs running, map ${map.size} keys, bus ${counts.bus} events`
      )
    },
    async close() {
      clearInterval(ticks)
      stopped.abort()
      await subscription.return()
      await sink.close()
    },
  }
}

async function startJobs(rt: Runtime, counts: Counts): Promise<void> {
  rt.jobs.register<{ n: number }>('demo:greet', (args, job) => {
    counts.jobs++
    return { greeting: `hello #${args.n}`, attempt: job.attempt }
  })
  await rt.jobs.start({ concurrency: 8 })
  await rt.jobs.enqueueMany(Array.from({ length: 100 }, (_, n) => ({ name: 'demo:greet', args: { n } })))
  await rt.jobs.schedule('demo:greet', { n: -1 }, every(kTickMs), { name: 'demo:greet every 2 s' })
}

async function startStream(rt: Runtime, counts: Counts, signal: AbortSignal): Promise<Sink> {
  const sink = await rt.stream('dev-events').newSink('dev-audit')
  void (async () => {
    for await (const event of sink) {
      counts.events++
      await sink.ack(event)
      if (signal.aborted) break
    }
  })().catch(() => undefined)
  return sink
}

async function startPool(rt: Runtime, counts: Counts): Promise<void> {
  const node = await rt.pool('dev')
  const handler: WorkerHandler = {
    start: (job) => void counts.running.add(job.key),
    stop: (key) => void counts.running.delete(key),
  }
  await node.addWorker(handler)
  await node.addWorker(handler)
  // A job kept from an earlier run (the data in .pulse/ persists) is running already: JobExistsError.
  for (const key of kPoolJobs) await node.dispatchJob(key, 'demo').catch(ignoreJobExists)
}

function ignoreJobExists(error: unknown): void {
  if ((error as { code?: unknown }).code !== 'PULSE_ERR_JOB_EXISTS') throw error
}

function readBus(bus: Bus, counts: Counts): Subscription {
  const subscription = bus.get('dev.>')
  void (async () => {
    for await (const event of subscription) {
      void event
      counts.bus++
    }
  })().catch(() => undefined)
  return subscription
}

async function tick(
  rt: Runtime,
  bus: Bus,
  counts: Counts,
  set: (key: string, value: string) => Promise<unknown>,
): Promise<void> {
  const at = new Date().toISOString()
  await Promise.allSettled([
    rt.stream('dev-events').add('tick', at),
    bus.put('dev.tick', at),
    set('jobs.handled', String(counts.jobs)),
    set('stream.read', String(counts.events)),
    set('bus.read', String(counts.bus)),
  ])
}
