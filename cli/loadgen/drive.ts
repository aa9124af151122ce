/**
 * Runs one target for one round: starts its consumers, sends the plan's operations (bulk: `jobs` as
 * fast as the target takes them; `--rate`: paced for `--duration`), waits until every one is done or
 * the drain timeout passes, and measures throughput, latency (an HDR histogram of stamp → delivery)
 * and the CPU per operation of this process and of the server.
 */
import type hdr from 'hdr-histogram-js'

import { latencyHistogram, recordMs } from './histogram.js'
import { pace } from './pace.js'
import { type CpuMeter, postgresCpu, redisCpu } from './server-cpu.js'
import type { LoadTarget, Plan, RoundResult, SystemSpec, TargetContext } from './types.js'

export interface DriveOutcome {
  readonly result: RoundResult
  readonly histogram: hdr.Histogram
}

async function bulk(target: LoadTarget, plan: Plan): Promise<number> {
  const n = plan.jobs
  if (target.batch > 1) {
    for (let sent = 0; sent < n; sent += target.batch)
      await target.send(performance.now(), Math.min(target.batch, n - sent))
    return n
  }
  let next = 0
  const sender = async (): Promise<void> => {
    while (next < n) {
      next++
      await target.send(performance.now(), 1)
    }
  }
  await Promise.all(Array.from({ length: Math.min(plan.concurrency, n) }, sender))
  return n
}

/** Paced sends; a failed send is kept and thrown once the pacing ends. */
async function paced(target: LoadTarget, rate: number, durationMs: number): Promise<number> {
  let failure: { error: unknown } | undefined
  const sent = await pace(rate, durationMs, (stamp) => {
    target.send(stamp, 1).catch((error: unknown) => (failure ??= { error }))
  })
  if (failure !== undefined) throw failure.error
  return sent
}

/** Polls until `done()` reaches `sent` or `timeoutMs` passes; resolves to the last count. */
async function drain(done: () => Promise<number>, sent: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const count = await done()
    if (count >= sent || performance.now() > deadline) return count
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

function meter(spec: SystemSpec, context: TargetContext, target: LoadTarget): Promise<CpuMeter> {
  if (spec.server === 'redis') return redisCpu(context.redisUrl)
  return postgresCpu(target.database ?? context.databaseUrl)
}

export async function drive(
  spec: SystemSpec,
  plan: Plan,
  context: TargetContext,
  onDelivery: () => void,
): Promise<DriveOutcome> {
  const target = await spec.make(context)
  try {
    const histogram = latencyHistogram()
    let delivered = 0
    await target.start((stamp) => {
      recordMs(histogram, performance.now() - stamp)
      delivered++
      onDelivery()
    })
    const server = await meter(spec, context, target)
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const sent = plan.rate === undefined ? await bulk(target, plan) : await paced(target, plan.rate, plan.durationMs)
    const count = target.completed?.bind(target) ?? (() => Promise.resolve(delivered))
    const completed = await drain(count, sent, plan.drainTimeoutMs)
    const elapsedMs = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    const serverUs = await server.stop()
    const per = (us: number): number => Math.round((us / Math.max(1, completed)) * 10) / 10
    const result: RoundResult = {
      sent,
      delivered,
      completed,
      elapsedMs: Math.round(elapsedMs),
      throughput: Math.round((completed * 1000) / elapsedMs),
      processCpuUs: per(cpu.user + cpu.system),
      serverCpuUs: serverUs === null ? null : per(serverUs),
    }
    return { result, histogram }
  } finally {
    await target.close()
  }
}
