// `pulse pool status` as the built binary, against a pool node with workers started here with
// actors/pool on the run's Redis.
import { afterEach, describe, expect, it } from 'vitest'

import { pulseJson, runPulse } from '../../helpers/cli.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { Pools, recorder, until } from '../pool/helpers.js'

const raw = useRawRedis()
let pools = new Pools()
afterEach(async () => {
  await pools.close(raw)
  pools = new Pools()
})

const env = () => ({ env: { REDIS_URL: redisUrl() } })

interface StatusJson {
  name: string
  shutdownBy: string | null
  nodes: { id: string; alive: boolean; lastSeen: string | null }[]
  workers: { id: string; state: string; createdAt: string | null; lastSeen: string | null; jobs: string[] }[]
  unownedJobs: string[]
}

describe('pulse pool status', () => {
  it('prints the nodes, the workers and the jobs each owns', async () => {
    const name = pools.name()
    const node = await pools.join(name)
    const first = await node.addWorker(recorder())
    const second = await node.addWorker(recorder())
    const keys = ['j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'j7']
    for (const key of keys) await node.dispatchJob(key, 'payload')
    await until(() => node.jobKeys().length === keys.length, 5_000, 'the jobs replica')

    // A minute of worker TTL: a keep-alive late on a loaded machine does not make a worker look dead.
    const status = await pulseJson<StatusJson>(['pool', 'status', name, '--worker-ttl', '1m'], env())
    expect(status).toMatchObject({ name, shutdownBy: null, unownedJobs: [] })
    expect(status.nodes).toEqual([{ id: node.id, alive: true, lastSeen: expect.any(String) as string }])
    expect(status.workers.map((w) => [w.id, w.state, w.createdAt])).toEqual([
      [first.id, 'active', first.createdAt.toISOString()],
      [second.id, 'active', second.createdAt.toISOString()],
    ])
    expect(status.workers.flatMap((w) => w.jobs).sort()).toEqual(keys)

    const human = await runPulse(['pool', 'status', name, '--worker-ttl', '1m'], env())
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/│ workers\s+│ 2 active of 2\s+│/)
    expect(human.stdout).toMatch(/│ jobs owned\s+│ 7\s+│/)
    expect(human.stdout).toContain(node.id)
    for (const worker of status.workers) {
      expect(human.stdout).toMatch(new RegExp(`│ ${worker.id} │ active .*│ ${worker.jobs.length}\\s+│`))
    }
  })

  it('an unknown pool does not exist: exit 1, one line naming it; bad --worker-ttl fails too', async () => {
    const name = pools.name('missing')
    const run = await runPulse(['pool', 'status', name], env())
    expect(run.code).toBe(1)
    expect(run.stderr).toBe(
      `pulse: PULSE_ERR_INVALID_ARG: pool "${name}" does not exist (no node, worker or job in its maps)\n`,
    )
    expect(run.stdout).toBe('')
    const ttl = await runPulse(['pool', 'status', name, '--worker-ttl', 'soon'], env())
    expect(ttl.code).toBe(1)
    expect(ttl.stderr).toMatch(/^pulse: PULSE_ERR_INVALID_ARG: --worker-ttl must be a duration/)
  })

  it('an unreachable Redis fails within --timeout with one line; no Redis configured says how to give one', async () => {
    const t0 = Date.now()
    const run = await runPulse(['pool', 'status', 'p', '--redis', 'redis://127.0.0.1:1', '--timeout', '2s'])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^pulse: PULSE_ERR_(REDIS_CONNECTION|TIMEOUT): .*redis:\/\/127\.0\.0\.1:1/)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
    expect(Date.now() - t0).toBeLessThan(8_000)
    const none = await runPulse(['pool', 'status', 'p'])
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/^pulse: PULSE_ERR_INVALID_ARG: no Redis: give --redis/)
  })
})
