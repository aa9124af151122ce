/**
 * CPU of an idle runtime: a runtime with one spawned actor that answered one ask (so both sides ran
 * their spin window and parked), then the whole process's utime + stime (/proc/self/stat, every thread)
 * over a quiet interval, as a share of one core. The same process with no runtime is the floor.
 */
import { setTimeout as sleep } from 'node:timers/promises'

import { Runtime, type RuntimeOptions } from '../../runtime/runtime.js'
import { cpuMicros } from '../lib/proc-cpu.js'
import {
  isMain,
  roundRobin,
  runAlone,
  series,
  type SuiteContext,
  type SuiteOutput,
  type Variant,
} from '../lib/runner.js'
import { fmtSummary, summarize, table } from '../lib/stats.js'

/** Percent of one core the process used over `ms` of doing nothing. */
async function idleCpuPct(ms: number): Promise<number> {
  const t0 = performance.now()
  const cpu0 = cpuMicros('/proc/self/stat')
  await sleep(ms)
  const cpu1 = cpuMicros('/proc/self/stat')
  return ((cpu1 - cpu0) / ((performance.now() - t0) * 1000)) * 100
}

async function idleRuntimePct(options: RuntimeOptions, ms: number): Promise<number> {
  const rt = await Runtime.start(options)
  try {
    const ref = await rt.spawn(new URL('./actors/echo.ts', import.meta.url), { name: 'idle' })
    await ref.ask('wake up')
    // Past the spin windows, and past the thread's start-up work (compiling, the first GCs).
    await sleep(1_000)
    return await idleCpuPct(ms)
  } finally {
    await rt.close()
  }
}

export const kIdleRuntime = 'runtime with one idle actor (defaults)'

export async function idleSuite(ctx: SuiteContext): Promise<SuiteOutput> {
  const ms = ctx.quick ? 2_000 : 10_000
  const variants: Variant<number>[] = [
    { name: 'process, no runtime', run: () => idleCpuPct(ms) },
    { name: kIdleRuntime, run: () => idleRuntimePct({}, ms) },
  ]
  ctx.log(`idle: ${variants.length} variants × ${ctx.rounds} rounds × ${ms / 1000} s`)
  const results = await roundRobin(variants, { rounds: ctx.rounds, warmup: false, log: ctx.log })
  const rows = variants.map((v) => [v.name, fmtSummary(summarize(series(results, v.name)), (n) => `${n.toFixed(2)} %`)])
  const markdown = [
    `utime + stime of the whole process (every thread) over ${ms / 1000} s with nothing sent, ÷ wall time; /proc counts in 10 ms ticks.`,
    table(['process', 'CPU, % of one core'], rows),
  ].join('\n\n')
  return { title: 'Idle CPU', markdown, data: Object.fromEntries(results) }
}

if (isMain(import.meta.url)) await runAlone(idleSuite)
