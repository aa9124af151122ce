// `pulse maps get` / `set` / `watch` as the built binary, against replicated maps joined here with
// actors/rmap on the run's Redis.
import { afterEach, describe, expect, it } from 'vitest'

import { ReplicatedMap } from '../../../actors/rmap/index.js'
import { pulseJson, runPulse, spawnPulse } from '../../helpers/cli.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { dropMap, mapName, until } from '../rmap/helpers.js'

const raw = useRawRedis()
const maps: ReplicatedMap[] = []
afterEach(async () => {
  for (const map of maps.splice(0)) {
    await map.close()
    await dropMap(raw, map.name)
  }
})

const env = () => ({ env: { REDIS_URL: redisUrl() } })

async function joined(content: Record<string, string> = {}): Promise<ReplicatedMap> {
  const map = await ReplicatedMap.join(redisUrl(), mapName())
  maps.push(map)
  for (const [key, value] of Object.entries(content)) await map.setAndWait(key, value)
  return map
}

describe('pulse maps get', () => {
  it('prints one value, or every key and value', async () => {
    const map = await joined({ a: '1', b: '{"x":2}' })
    expect(await pulseJson(['maps', 'get', map.name, 'b'], env())).toEqual({
      map: map.name,
      key: 'b',
      value: '{"x":2}',
    })
    expect(await pulseJson(['maps', 'get', map.name], env())).toEqual({
      map: map.name,
      revision: map.revision,
      content: { a: '1', b: '{"x":2}' },
    })
    const one = await runPulse(['maps', 'get', map.name, 'a'], env())
    expect([one.code, one.stdout]).toEqual([0, '1\n'])
    const all = await runPulse(['maps', 'get', map.name], env())
    expect(all.code).toBe(0)
    expect(all.stdout).toMatch(/│ b\s+│ \{"x":2\}\s+│/)
  })

  it('a missing key, or a map never written, fails with exit 1 and says so', async () => {
    const map = await joined({ a: '1' })
    const key = await runPulse(['maps', 'get', map.name, 'nope'], env())
    expect(key.code).toBe(1)
    expect(key.stderr).toBe(`pulse: PULSE_ERR_INVALID_ARG: map "${map.name}" has no key "nope"\n`)
    const name = mapName('never')
    const missing = await runPulse(['maps', 'get', name], env())
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe(
      `pulse: PULSE_ERR_INVALID_ARG: map "${name}" does not exist (nothing was ever written to it)\n`,
    )
  })
})

describe('pulse maps set', () => {
  it('writes the string as given and prints the previous value', async () => {
    const map = await joined({ a: 'old' })
    expect(await pulseJson(['maps', 'set', map.name, 'a', '{"new": true}'], env())).toEqual({
      map: map.name,
      key: 'a',
      value: '{"new": true}',
      previous: 'old',
    })
    await until(map, () => map.get('a') === '{"new": true}', 5_000, 'the write')
    const fresh = await runPulse(['maps', 'set', map.name, 'b', ''], env())
    expect([fresh.code, fresh.stdout]).toEqual([0, 'new key\n'])
    const again = await runPulse(['maps', 'set', map.name, 'b', 'two'], env())
    expect([again.code, again.stdout]).toEqual([0, 'previous: \n'])
    await until(map, () => map.get('b') === 'two', 5_000, 'the writes')
  })

  it('a bad key fails with exit 1 and changes nothing', async () => {
    const map = await joined({ a: '1' })
    const revision = map.revision
    for (const key of ['a=b', '']) {
      const run = await runPulse(['maps', 'set', map.name, key, 'v'], env())
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(/^pulse: PULSE_ERR_INVALID_ARG: key must (not contain '='|not be empty)/)
    }
    const usage = await runPulse(['maps', 'set', map.name, 'only-a-key'], env())
    expect(usage.code).toBe(2)
    expect(await raw.hget(`map:${map.name}:content`, '=rev')).toBe(String(revision))
    expect(await raw.hgetall(`map:${map.name}:content`)).toMatchObject({ a: '1' })
    expect(Object.keys(await raw.hgetall(`map:${map.name}:content`)).sort()).toEqual(['=kind', '=rev', 'a'])
  })
})

describe('pulse maps watch', () => {
  it('prints the content, then each change as NDJSON, and stops cleanly on SIGINT (exit 0)', async () => {
    const map = await joined({ a: '1' })
    const watch = spawnPulse(['maps', 'watch', map.name, '--json'], { REDIS_URL: redisUrl() })
    const [first] = await watch.waitForLines(1)
    expect(JSON.parse(first as string)).toEqual({
      type: 'content',
      map: map.name,
      revision: map.revision,
      content: { a: '1' },
    })
    await map.set('b', '2')
    const [, set] = await watch.waitForLines(2)
    expect(JSON.parse(set as string)).toMatchObject({ type: 'set', key: 'b', value: '2', previous: null })
    await map.delete('a')
    const [, , deleted] = await watch.waitForLines(3)
    expect(JSON.parse(deleted as string)).toMatchObject({ type: 'delete', key: 'a', previous: '1' })
    watch.child.kill('SIGINT')
    expect(await watch.exited).toBe(0)
  })

  it('exits 0 by itself after --count changes; SIGTERM stops it too', async () => {
    const map = await joined({ a: '1' })
    const watch = spawnPulse(['maps', 'watch', map.name, '--count', '1'], { REDIS_URL: redisUrl() })
    await watch.waitForLines(1) // the table's top border: subscribed, and the content printed
    await map.set('a', 'two\nlines')
    expect(await watch.exited).toBe(0)
    expect(watch.lines[0]).toMatch(/^┌/)
    expect(watch.lines.at(-1)).toBe('set a=two\\nlines')
    const termed = spawnPulse(['maps', 'watch', map.name], { REDIS_URL: redisUrl() })
    await termed.waitForLines(1)
    termed.child.kill('SIGTERM')
    expect(await termed.exited).toBe(0)
  })

  it('bad --count: exit 1 naming it', async () => {
    const map = await joined({ a: '1' })
    const run = await runPulse(['maps', 'watch', map.name, '--count', '-3'], env())
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^pulse: PULSE_ERR_INVALID_ARG: --count must be an integer of at least 1/)
  })
})

describe('pulse maps without a reachable Redis', () => {
  it('an unreachable Redis fails within --timeout with one line; no Redis configured says how to give one', async () => {
    for (const args of [
      ['get', 'm'],
      ['set', 'm', 'k', 'v'],
      ['watch', 'm'],
    ]) {
      const t0 = Date.now()
      const run = await runPulse(['maps', ...args, '--redis', 'redis://127.0.0.1:1', '--timeout', '2s'])
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(/^pulse: PULSE_ERR_(REDIS_CONNECTION|TIMEOUT): .*redis:\/\/127\.0\.0\.1:1/)
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
      expect(Date.now() - t0).toBeLessThan(8_000)
    }
    const none = await runPulse(['maps', 'get', 'm'])
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/^pulse: PULSE_ERR_INVALID_ARG: no Redis: give --redis/)
  })
})
