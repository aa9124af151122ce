/**
 * One throughput run alone, for a profiler and for CPU accounting:
 *
 *   npx tsx bench/streaming/profile.ts [sink|sink-await|raw] [events]
 *   node --cpu-prof --cpu-prof-dir=DIR --import tsx bench/streaming/profile.ts sink 100000
 *
 * Uses REDIS_URL, or a redis-server of its own; SINK_OPTS: sink options as JSON. Prints the drain rate,
 * the drain window in `process.hrtime` µs (to cut a CPU profile to it; the sink-reader actor's thread
 * writes a profile of its own), and the CPU time each thread of this process and the redis-server used
 * during the drain (from /proc/self/task/<tid>/stat and INFO cpu): wall-clock samples on a busy box
 * include time a thread was runnable but preempted, CPU time does not.
 */
import { readdirSync, readFileSync } from 'node:fs'

import { Redis } from 'ioredis'

import { type SinkOptions, Stream } from '../../actors/streaming/index.js'
import { LocalRedis } from '../../cli/local-servers/redis-server.js'
import { kPayload, rawRun } from './throughput.js'

const kind = process.argv[2] ?? 'sink'
const events = Number(process.argv[3] ?? 100_000)
const local = process.env.REDIS_URL === undefined ? await LocalRedis.start() : undefined
const url = local?.url ?? process.env.REDIS_URL ?? ''
const options = JSON.parse(process.env.SINK_OPTS ?? '{}') as SinkOptions
const admin = new Redis(url)

/** CPU ms per thread id (user + system; clock ticks of 10 ms). */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>()
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()
      out.set(`${tid} ${name}`, (Number(fields[11]) + Number(fields[12])) * 10)
    } catch {
      // the thread ended
    }
  }
  return out
}

async function redisCpuMs(): Promise<number> {
  const info = await admin.info('cpu')
  const get = (k: string): number => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0)
  return (get('used_cpu_user') + get('used_cpu_sys')) * 1000
}

async function drainSink(): Promise<{ ms: number; cpu: Map<string, number>; redisMs: number }> {
  const stream = new Stream(url, `bench-profile-${process.pid}`, { maxLen: 0 })
  const sink = await stream.newSink('bench', { ...options, start: 'oldest' })
  try {
    for (let i = 0; i < events; i += 1_000) {
      await stream.addMany(
        Array.from({ length: Math.min(1_000, events - i) }, () => ({ name: 'bench', payload: kPayload })),
      )
    }
    const cpu0 = threadCpu()
    const r0 = await redisCpuMs()
    const t1 = performance.now()
    console.log(`drain starts at hrtime µs ${process.hrtime.bigint() / 1000n}`)
    let read = 0
    let last: Promise<void> = Promise.resolve()
    for await (const event of sink) {
      if (kind === 'sink-await') await sink.ack(event)
      else last = sink.ack(event)
      if (++read === events) break
    }
    await last
    const ms = performance.now() - t1
    console.log(`drain ends at hrtime µs ${process.hrtime.bigint() / 1000n}`)
    const cpu1 = threadCpu()
    const cpu = new Map([...cpu1].map(([k, v]) => [k, v - (cpu0.get(k) ?? 0)]))
    return { ms, cpu, redisMs: (await redisCpuMs()) - r0 }
  } finally {
    await sink.close()
    await stream.destroy()
    await stream.close()
  }
}

try {
  if (kind === 'raw') {
    const r0 = await redisCpuMs()
    const c0 = process.cpuUsage()
    const r = await rawRun(url, events, false)
    const c = process.cpuUsage(c0)
    console.log(`drain starts at hrtime µs ${r.drainHrUs[0]}`)
    console.log(`drain ends at hrtime µs ${r.drainHrUs[1]}`)
    console.log(
      `raw: ${events} events, add ${r.addMs.toFixed(0)} ms, drain ${r.drainMs.toFixed(0)} ms → ${r.drain.toFixed(0)}/s`,
    )
    console.log(
      `CPU (add + drain): this process ${((c.user + c.system) / 1000).toFixed(0)} ms, redis-server ${((await redisCpuMs()) - r0).toFixed(0)} ms`,
    )
  } else {
    const { ms, cpu, redisMs } = await drainSink()
    console.log(`${kind}: ${events} events, drain ${ms.toFixed(0)} ms → ${(events / (ms / 1000)).toFixed(0)}/s`)
    const busy = [...cpu].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1])
    console.log(
      `CPU during the drain: ${busy.map(([k, v]) => `${k} ${v} ms`).join(', ')}; redis-server ${redisMs.toFixed(0)} ms`,
    )
  }
} finally {
  admin.disconnect()
  await local?.close()
}
