/**
 * Nodes in separate processes (test/fixtures/pool/node.ts): cascading kill -9, and a process whose
 * handler freezes its event loop for 5 × ttl is not declared dead while a killed one is.
 */
import { afterEach, describe, expect, it } from 'vitest'

import { type Child, spawnTs } from '../../helpers/child.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { kFast, Pools, until } from './helpers.js'

const fixture = new URL('../../fixtures/pool/node.ts', import.meta.url).pathname

const raw = useRawRedis()
let pools: Pools
afterEach(async () => {
  await pools.close(raw)
})

/** A child node and what its handlers run, from its output lines. */
class Proc {
  readonly child: Child
  readonly running = new Set<string>()
  starts = 0
  alive = true
  nodeId = ''
  workerIds: string[] = []

  constructor(pool: string, procs: Proc[], violations: string[], workers = 1) {
    this.child = spawnTs(fixture, [JSON.stringify({ url: redisUrl(), pool, workers, options: kFast })])
    this.child.process.stdout?.on('data', () => {}) // lines are read by the helper
    const lines = this.child.lines
    let seen = 0
    const poll = setInterval(() => {
      while (seen < lines.length) this.#line(lines[seen++] ?? '', procs, violations)
      if (!this.alive) clearInterval(poll)
    }, 2)
    void this.child.exited.then(() => {
      while (seen < lines.length) this.#line(lines[seen++] ?? '', procs, violations)
      clearInterval(poll)
    })
  }

  #line(line: string, procs: Proc[], violations: string[]): void {
    const [what, , key] = line.split(' ')
    if (what === 'ready') {
      const [, node, ...workers] = line.split(' ')
      this.nodeId = node ?? ''
      this.workerIds = workers
    } else if (what === 'start' && key !== undefined) {
      this.starts++
      for (const other of procs) {
        if (other !== this && other.alive && other.running.has(key))
          violations.push(`${key} started while running elsewhere`)
      }
      if (this.running.has(key)) violations.push(`${key} started twice here`)
      this.running.add(key)
    } else if (what === 'stop' && key !== undefined) {
      this.running.delete(key)
    }
  }

  async kill(): Promise<void> {
    this.alive = false
    this.running.clear()
    this.child.process.kill('SIGKILL')
    await this.child.exited
  }

  async stop(): Promise<void> {
    if (!this.alive) return
    this.child.process.kill('SIGTERM')
    expect(await this.child.exited, this.child.lines.join('\n')).toBe(0)
    this.alive = false
  }
}

describe('pool nodes in separate processes', () => {
  it('3 processes, 25 jobs, two killed (-9) one after the other: all 25 run on the survivor, each once at a time', async () => {
    pools = new Pools()
    const name = pools.name()
    const procs: Proc[] = []
    const violations: string[] = []
    for (let i = 0; i < 3; i++) procs.push(new Proc(name, procs, violations))
    await Promise.all(procs.map((p) => p.child.waitForLine(/^ready /, 30_000)))
    // The dispatcher’s timeout (2 × its grace period) leaves room for children starved of CPU on a loaded machine.
    const client = await pools.join(name, { clientOnly: true, ackGracePeriodMs: 5_000 })
    const keys = Array.from({ length: 25 }, (_, i) => `job-${i}`)
    await Promise.all(keys.map((key) => client.dispatchJob(key, key))).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${procs.map((p) => p.child.lines.join('\n')).join('\n---\n')}`)
    })
    const total = () => procs.filter((p) => p.alive).reduce((n, p) => n + p.running.size, 0)
    await until(() => total() === 25, 10_000, '25 jobs running')
    const [first, second, survivor] = procs as [Proc, Proc, Proc]
    expect(first.running.size + second.running.size).toBeGreaterThan(0)

    await first.kill()
    await until(() => total() === 25, 15_000, 'the jobs of the first killed process to restart')
    await second.kill()
    await until(() => survivor.running.size === 25, 15_000, 'all 25 jobs on the survivor').catch(
      async (error: unknown) => {
        const state = await Promise.all(
          ['workers', 'worker-keepalive', 'jobs', 'job-payloads', 'cleanup'].map(async (m) => [
            m,
            await raw.hgetall(`map:${name}:${m}:content`),
          ]),
        )
        throw new Error(
          `${String(error)}\nrunning: ${[...survivor.running].sort().join(' ')}\n${JSON.stringify(state)}\n${survivor.child.lines.slice(-40).join('\n')}`,
        )
      },
    )
    expect([...survivor.running].sort()).toEqual([...keys].sort())
    expect(violations).toEqual([])
    // The dead nodes and workers are gone from the pool's maps.
    await until(
      async () => (await raw.hlen(`map:${name}:workers:content`)) - 2 === 1,
      10_000,
      'the dead workers to be removed',
    )
    const nodes = await raw.hkeys(`map:${name}:node-keepalive:content`)
    await until(
      async () => {
        const live = (await raw.hkeys(`map:${name}:node-keepalive:content`)).filter((f) => !f.startsWith('='))
        return !live.includes(first.nodeId) && !live.includes(second.nodeId)
      },
      10_000,
      'the dead nodes to be removed',
    )
    void nodes
    await client.close()
    await survivor.stop()
  }, 90_000)

  it('a process frozen by its handler for 5 × ttl keeps its jobs; a killed one loses them', async () => {
    pools = new Pools()
    const name = pools.name()
    const procs: Proc[] = []
    const violations: string[] = []
    for (let i = 0; i < 2; i++) procs.push(new Proc(name, procs, violations))
    await Promise.all(procs.map((p) => p.child.waitForLine(/^ready /, 30_000)))
    const client = await pools.join(name, { clientOnly: true, ackGracePeriodMs: 5_000 })
    const keys = Array.from({ length: 10 }, (_, i) => `f-${i}`)
    await Promise.all(keys.map((key) => client.dispatchJob(key, key))).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${procs.map((p) => p.child.lines.join('\n')).join('\n---\n')}`)
    })
    const [frozen, other] = procs as [Proc, Proc]
    await until(() => frozen.running.size + other.running.size === 10, 10_000, '10 jobs running')
    const frozenKey = [...frozen.running][0]
    expect(frozenKey).toBeDefined()
    const held = [...frozen.running].sort()
    await client.notifyWorker(frozenKey ?? '', `block:${5 * (kFast.workerTtlMs ?? 0)}`)
    await frozen.child.waitForLine(/^unblocked /, 10_000)
    // A negative check: two more TTLs after the block, the frozen worker is still not declared dead.
    await new Promise((resolve) => setTimeout(resolve, 2 * (kFast.workerTtlMs ?? 0)))
    expect([...frozen.running].sort()).toEqual(held)
    expect(other.starts).toBe(10 - held.length)
    expect(await raw.hexists(`map:${name}:workers:content`, frozen.workerIds[0] ?? '')).toBe(1)
    await frozen.kill()
    await until(() => other.running.size === 10, 15_000, 'the killed process’s jobs to restart')
    expect(violations).toEqual([])
    await client.close()
    await other.stop()
  }, 90_000)
})
