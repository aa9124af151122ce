/**
 * One in-process put → get variant alone, for a profiler: `bus` or `raw` (XADD → XREAD), with `lanes`
 * loops each awaiting its put (8: the awaited shape of index.ts; 256: 8 publishers × 32 in flight). Prints
 * events/s, the CPU per event of this process and of redis-server, the event loop's utilisation and the
 * Redis commands and their server time per event (INFO commandstats).
 *
 *   npx tsx bench/bus/profile.ts bus 8 5                         # variant, lanes, seconds
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/bus/profile.ts bus 8 5
 *   node --perf-basic-prof --import tsx bench/bus/profile.ts bus 8 20 & perf record -F 999 -g -p $!
 *
 * It starts its own redis-server unless REDIS_URL is set.
 */
import { randomUUID } from 'node:crypto'
import os from 'node:os'

import { Redis } from 'ioredis'

import { Bus } from '../../actors/bus/index.js'
import { LocalRedis } from '../../cli/local-servers/redis-server.js'

const [variant = 'bus', lanesArg = '8', secondsArg = '5'] = process.argv.slice(2)
const lanes = Number(lanesArg)
const seconds = Number(secondsArg)
if (!['bus', 'raw'].includes(variant) || !(lanes > 0) || !(seconds > 0))
  throw new Error('usage: profile.ts bus|raw [lanes] [seconds]')

const local = process.env.REDIS_URL === undefined || process.env.REDIS_URL === '' ? await LocalRedis.start() : undefined
const url = local?.url ?? process.env.REDIS_URL ?? ''
const admin = new Redis(url)

interface Stats {
  readonly calls: Map<string, { calls: number; usec: number }>
  readonly cpuMs: number
}

async function stats(): Promise<Stats> {
  const [text, cpu] = await Promise.all([admin.info('commandstats'), admin.info('cpu')])
  const calls = new Map<string, { calls: number; usec: number }>()
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm))
    calls.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) })
  const user = Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1] ?? 0)
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1] ?? 0)
  return { calls, cpuMs: (user + sys) * 1000 }
}

/** `lanes` loops awaiting `put` for `s` seconds, while `received()` counts; the puts done. */
async function drive(s: number, put: () => Promise<unknown>, received: () => number): Promise<number> {
  const end = Date.now() + s * 1000
  let sent = 0
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (Date.now() < end) {
        await put()
        sent++
      }
    }),
  )
  while (received() < sent) await new Promise((resolve) => setTimeout(resolve, 5))
  return sent
}

async function runRaw(s: number): Promise<number> {
  const key = `bench:bus:profile:${randomUUID().slice(0, 8)}`
  const writer = new Redis(url)
  const reader = new Redis(url)
  let received = 0
  let stop = false
  // Both connected first: an XREAD from `$` sent before its connection is up could start after the first XADDs.
  await Promise.all([writer.ping(), reader.ping()])
  const reading = (async () => {
    let cursor = '$'
    while (!stop) {
      const reply = await reader.xreadBuffer('COUNT', 256, 'BLOCK', 100, 'STREAMS', key, cursor)
      for (const [, entries] of reply ?? []) {
        received += entries.length
        cursor = (entries[entries.length - 1] as [Buffer, Buffer[]])[0].toString('latin1')
      }
    }
  })()
  await new Promise((resolve) => setTimeout(resolve, 5))
  let n = 0
  const sent = await drive(
    s,
    () => writer.xadd(key, '*', 'i', `e_${n++}`, 's', 'a.x', 'p', '{"n":1}'),
    () => received,
  )
  stop = true
  await reading
  await writer.del(key)
  writer.disconnect()
  reader.disconnect()
  return sent
}

async function runBus(s: number): Promise<number> {
  const bus = await Bus.connect(url, { namespaces: ['a'], keyPrefix: `bench:bus:${randomUUID().slice(0, 8)}:` })
  const sub = bus.get('a.>')
  await sub.ready
  let received = 0
  const reading = (async () => {
    for await (const _ of sub) received++
  })()
  const sent = await drive(
    s,
    () => bus.put('a.x', '{"n":1}'),
    () => received,
  )
  await sub.return()
  await reading
  await bus.close()
  return sent
}

const run = variant === 'bus' ? runBus : runRaw
await run(1) // warm-up
const s0 = await stats()
const c0 = process.cpuUsage()
const e0 = performance.eventLoopUtilization()
const events = await run(seconds)
const elu = performance.eventLoopUtilization(e0).utilization
const c = process.cpuUsage(c0)
const s1 = await stats()
const per = (x: number) => (x / events).toFixed(1)
const commands: string[] = []
for (const [name, v] of s1.calls) {
  const before = s0.calls.get(name) ?? { calls: 0, usec: 0 }
  const calls = v.calls - before.calls
  if (calls > 0 && name !== 'info')
    commands.push(`${name} ${(calls / events).toFixed(3)}/event, ${per(v.usec - before.usec)} µs/event`)
}
process.stdout.write(
  [
    `${variant}, ${lanes} lanes, ${seconds} s: ${Math.round(events / seconds)} events/s (load ${os.loadavg()[0]?.toFixed(2)})`,
    `  node CPU ${per((c.user + c.system) / 1)} µs/event (user ${per(c.user)}, system ${per(c.system)}); event loop ${(elu * 100).toFixed(0)} % busy`,
    `  redis-server CPU ${per((s1.cpuMs - s0.cpuMs) * 1000)} µs/event`,
    `  commands (server time inside the command): ${commands.join('; ')}`,
    '',
  ].join('\n'),
)
await admin.quit()
await local?.close()
