/**
 * Start-cost probe: the Node CPU of one bulk phase's fixed part — `JobQueue.connect`, `start` on a shared
 * runtime and `close`, with no job — which the jobs suite's "bulk CPU per job" divides by the phase's jobs.
 *
 *   npx tsx bench/jobs/probes/start-cost.ts [rounds=5]
 */
import { JobQueue } from '../../../actors/jobs/queue.js'
import { Runtime } from '../../../runtime/runtime.js'
import { cleanPulse, kPulseSchema } from '../pulse.js'
import { openServer } from '../server.js'

const rounds = Number(process.argv[2] ?? 5)
const server = await openServer()
const url = await server.createDatabase('probe_start')
const runtime = await Runtime.start()
try {
  const once = async (): Promise<{ clean: number; cycle: number }> => {
    const c0 = process.cpuUsage()
    await cleanPulse(url)
    const c1 = process.cpuUsage()
    const q = await JobQueue.connect({ pg: url, schema: kPulseSchema })
    q.register('noop', () => undefined)
    await q.start({ concurrency: 50, runtime })
    await q.close()
    const c2 = process.cpuUsage()
    const ms = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage): number => (b.user + b.system - a.user - a.system) / 1000
    return { clean: ms(c0, c1), cycle: ms(c1, c2) }
  }
  const first = await JobQueue.connect({ pg: url, schema: kPulseSchema })
  await first.close()
  for (let i = 0; i <= rounds; i++) {
    const r = await once()
    process.stdout.write(
      `${i === 0 ? 'warm-up' : `round ${i}`}: clean ${r.clean.toFixed(1)} ms CPU; connect + start + close ${r.cycle.toFixed(1)} ms CPU (= ${((r.cycle * 1000) / 20_000).toFixed(1)} µs per job of a 20,000-job phase)\n`,
    )
  }
} finally {
  await runtime.close()
  await server.close()
}
