// `pulse loadgen` as the built binary: small bulk and steady runs on the run's servers (and on an
// embedded redis-server), checked in the JSON document (cli/loadgen/report.ts) and the table; usage
// errors exit 2 with one line; a peer (graphile-worker) runs in the same round as Pulse.
import { describe, expect, it } from 'vitest'

import { pulseJson, runPulse, useCliDatabase } from '../../helpers/cli.js'
import { redisUrl } from '../../helpers/servers.js'
import { uniqueName } from '../jobs/helpers.js'

const cli = useCliDatabase(uniqueName('cli_loadgen'), 'ada')
const env = () => ({ env: { DATABASE_URL: cli.url, REDIS_URL: redisUrl() }, timeoutMs: 50_000 })

interface SystemJson {
  sent: number
  delivered: number
  completed: number
  throughput: number
  throughputs: number[]
  latency: { p50: number; p90: number; p99: number; p999: number; max: number }
  cpuPerOp: { process: number; server: number | null }
  ratio: { throughput: number; p99: number }
}

interface ReportJson {
  mode: 'bulk' | 'rate'
  jobs: number | null
  rate: number | null
  rounds: number
  servers: { redis: string; postgres: string }
  peers: Record<string, string[]>
  missingPeers: unknown[]
  workloads: Record<string, { latency: string; server: string; systems: Record<string, SystemJson> }>
}

/** Every job, event, dispatch or put sent was delivered and done; the figures are sane. */
function expectComplete(system: SystemJson, sent: number): void {
  expect(system).toMatchObject({ sent, delivered: sent, completed: sent })
  expect(system.throughput).toBeGreaterThan(0)
  const { p50, p90, p99, p999, max } = system.latency
  expect(p50).toBeGreaterThan(0)
  expect([p50, p90, p99, p999, max]).toEqual([p50, p90, p99, p999, max].sort((a, b) => a - b))
  expect(system.cpuPerOp.process).toBeGreaterThan(0)
}

describe('pulse loadgen', () => {
  it('drains 200 operations on each workload and reports throughput, percentiles and CPU per operation', async () => {
    const report = await pulseJson<ReportJson>(['loadgen', '--jobs', '200', '--concurrency', '20'], env())
    expect(report).toMatchObject({ mode: 'bulk', jobs: 200, rate: null, rounds: 1, peers: {}, missingPeers: [] })
    expect(report.servers).toEqual({ redis: 'configured', postgres: 'configured' })
    expect(Object.keys(report.workloads)).toEqual(['jobs', 'sinks', 'pool', 'bus'])
    expect(report.workloads.jobs).toMatchObject({ latency: 'enqueue → start', server: 'postgres' })
    for (const workload of Object.values(report.workloads)) {
      expect(Object.keys(workload.systems)).toEqual(['pulse'])
      const pulse = workload.systems.pulse as SystemJson
      expectComplete(pulse, 200)
      expect(pulse.ratio).toEqual({ throughput: 1, p99: 1 })
    }
  }, 60_000)

  it('--rate sends at a steady rate for --duration, and every operation is done', async () => {
    const args = ['loadgen', 'bus', 'jobs', '--rate', '100', '--duration', '2s']
    const report = await pulseJson<ReportJson>(args, env())
    expect(report).toMatchObject({ mode: 'rate', jobs: null, rate: 100 })
    expect(Object.keys(report.workloads)).toEqual(['jobs', 'bus'])
    for (const workload of Object.values(report.workloads)) expectComplete(workload.systems.pulse as SystemJson, 200)
  }, 60_000)

  it('runs a peer (graphile-worker) in the same round as Pulse, with the ratio to Pulse', async () => {
    const args = ['loadgen', 'jobs', 'bus', '--jobs', '300', '--peers', 'graphile-worker']
    const report = await pulseJson<ReportJson>(args, env())
    expect(report.peers).toEqual({ 'graphile-worker': ['jobs'] })
    expect(Object.keys(report.workloads.jobs?.systems ?? {})).toEqual(['pulse', 'graphile-worker'])
    expect(Object.keys(report.workloads.bus?.systems ?? {})).toEqual(['pulse'])
    const peer = report.workloads.jobs?.systems['graphile-worker'] as SystemJson
    expectComplete(peer, 300)
    expect(peer.ratio.throughput).toBeGreaterThan(0)
  }, 60_000)

  it('prints a table, on an embedded redis-server when no Redis is configured', async () => {
    const run = await runPulse(['loadgen', 'bus', '--jobs', '200'], { timeoutMs: 50_000 })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/│ bus\s+│ pulse\s+│ 200\/200\s+│/)
    expect(run.stdout).toContain('redis embedded, postgres unused')
    expect(run.stdout).toContain('latency: bus put → get')
  }, 60_000)

  it('a usage error exits 2 with one line and runs nothing', async () => {
    const cases: [string[], string][] = [
      [['--jobs', '0'], '--jobs must be an integer of at least 1'],
      [['--duration', '2s'], '--duration goes with --rate'],
      [['queues', '--rate', '10', '--duration', 'soon'], '--duration must be a duration'],
      [['--peers', 'kafka'], 'unknown peer "kafka"'],
    ]
    const runs = await Promise.all(cases.map(([args]) => runPulse(['loadgen', ...args], env())))
    runs.forEach((run, i) => {
      expect(run.code, run.stderr).toBe(2)
      expect(run.stdout).toBe('')
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
      expect(run.stderr).toContain(cases[i]?.[1])
    })
  })
})
