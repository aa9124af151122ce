import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { LocalRedis } from '../../../cli/local-servers/redis-server.js'
import { InvalidArgumentError, RedisCommandError } from '../../../runtime/errors.js'
import { createRedis, defineScript, sha1 } from '../../../transports/redis/index.js'
import type { PulseRedis } from '../../../transports/redis/index.js'
import { deleteByPrefix, testPrefix } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'

// The header states the contract, as every script's does (see transports/redis/scripts.ts).
const kSetAndEcho = `
--[[
  setAndEcho-1
    KEYS[1]  the key
    ARGV[1]  the value
    ARGV[2]  echoed back
  Reply: { value, ARGV[2] }
  Errors: EMPTYVALUE when ARGV[1] is empty
]]
if ARGV[1] == '' then return redis.error_reply('EMPTYVALUE the value is empty') end
redis.call('SET', KEYS[1], ARGV[1])
return { redis.call('GET', KEYS[1]), ARGV[2] }
`
const setAndEcho = defineScript({ name: 'setAndEcho-1', lua: kSetAndEcho, numberOfKeys: 1 })

describe('defineScript', () => {
  it('computes the SHA1 of the source locally', () => {
    expect(setAndEcho.sha).toBe(sha1(kSetAndEcho))
    expect(setAndEcho.sha).toMatch(/^[0-9a-f]{40}$/)
    expect(Object.isFrozen(setAndEcho)).toBe(true)
  })

  it('checks the <command>-<numKeys> name against numberOfKeys', () => {
    expect(() => defineScript({ name: 'claimJob-2', lua: 'return 1', numberOfKeys: 1 })).toThrow(/must end with -1/)
    expect(() => defineScript({ name: 'claimJob', lua: 'return 1', numberOfKeys: 0 })).toThrow(InvalidArgumentError)
    expect(() => defineScript({ name: 'noop-0', lua: '', numberOfKeys: 0 })).toThrow(/definition\.lua/)
    expect(() => defineScript({ name: 'noop-0', lua: 'return 1', numberOfKeys: -1 })).toThrow(
      /definition\.numberOfKeys/,
    )
  })
})

describe('run on the shared server', () => {
  let redis: PulseRedis
  let raw: Redis
  const prefix = testPrefix()

  beforeAll(async () => {
    redis = createRedis(redisUrl())
    raw = new Redis(redisUrl())
    await Promise.all([redis.client.ping(), raw.ping()])
  })

  afterAll(async () => {
    await deleteByPrefix(raw, prefix)
    await Promise.all([redis.close(), raw.quit()])
  })

  it('runs with a PulseRedis or a plain ioredis client, strings or Buffers', async () => {
    expect(await setAndEcho.run(redis, [`${prefix}a`], ['1', 'x'])).toEqual(['1', 'x'])
    expect(await setAndEcho.run(raw, [`${prefix}b`], ['2', 7])).toEqual(['2', '7'])
    expect(await setAndEcho.runBuffer(redis.client, [`${prefix}c`], [Buffer.from([0xff, 0x00]), 'y'])).toEqual([
      Buffer.from([0xff, 0x00]),
      Buffer.from('y'),
    ])
    expect(await raw.get(`${prefix}a`)).toBe('1')
  })

  it("a script's own error reply arrives as a RedisCommandError with its prefix, from any client", async () => {
    for (const client of [redis, raw]) {
      const error = await setAndEcho.run(client, [`${prefix}d`], ['', 'x']).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(RedisCommandError)
      expect((error as RedisCommandError).data).toMatchObject({ reply: 'EMPTYVALUE', retryable: false })
    }
  })

  it('refuses a wrong number of keys before sending anything', async () => {
    await expect(setAndEcho.run(redis, [], ['1', 'x'])).rejects.toThrow(/takes 1 keys \(got 0\)/)
  })
})

describe('the script cache (private server)', () => {
  let server: LocalRedis
  let redis: PulseRedis

  beforeAll(async () => {
    server = await LocalRedis.start()
    redis = createRedis(server.url)
    await redis.client.ping()
  })

  afterAll(async () => {
    await redis.close()
    await server.close()
  })

  /** Calls of `command` (`script|load` for a subcommand) so far, from INFO commandstats. */
  async function calls(command: string): Promise<number> {
    const info = await redis.client.info('commandstats')
    const match = new RegExp(`^cmdstat_${command.replace('|', '\\|')}:calls=(\\d+)`, 'm').exec(info)
    return match === null ? 0 : Number(match[1])
  }

  it('loads the script with its first run, then runs by SHA only; loads it again on NOSCRIPT after SCRIPT FLUSH', async () => {
    await redis.client.script('FLUSH')
    await redis.client.config('RESETSTAT')
    expect(await redis.client.script('EXISTS', setAndEcho.sha)).toEqual([0])

    // First run on this connection: SCRIPT LOAD and EVALSHA back to back.
    expect(await setAndEcho.run(redis, ['k'], ['1', 'first'])).toEqual(['1', 'first'])
    expect(await redis.client.script('EXISTS', setAndEcho.sha)).toEqual([1])
    expect(await calls('evalsha')).toBe(1)
    expect(await calls('eval')).toBe(0)
    expect(await calls('script|load')).toBe(1)

    // Next runs: one EVALSHA each, no load.
    expect(await setAndEcho.run(redis, ['k'], ['2', 'second'])).toEqual(['2', 'second'])
    expect(await setAndEcho.runBuffer(redis, ['k'], ['3', 'third'])).toEqual([Buffer.from('3'), Buffer.from('third')])
    expect(await calls('evalsha')).toBe(3)
    expect(await calls('script|load')).toBe(1)

    // After a flush the server answers NOSCRIPT, and the fallback loads it once more.
    await redis.client.script('FLUSH')
    expect(await setAndEcho.run(redis, ['k'], ['4', 'after flush'])).toEqual(['4', 'after flush'])
    expect(await redis.client.script('EXISTS', setAndEcho.sha)).toEqual([1])
    expect(await calls('script|load')).toBe(2)
  })

  it('runs a script in its place among the commands sent after it, also when the server does not have it yet', async () => {
    await redis.client.script('FLUSH')
    const fresh = createRedis(server.url)
    try {
      // Not awaited in between: the SET of the script is sent first, the DEL second, so the key ends deleted.
      const ran = setAndEcho.run(fresh, ['ordered'], ['1', 'x'])
      const deleted = fresh.client.del('ordered')
      expect(await ran).toEqual(['1', 'x'])
      expect(await deleted).toBe(1)
      expect(await fresh.client.exists('ordered')).toBe(0)
    } finally {
      await fresh.close()
    }
  })
})
