/** The bare RESP connection of the sink's reads, against the real server: handshake, errors, outages, big replies. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { LocalRedis } from '../../../cli/local-servers/redis-server.js'
import { RedisCommandError, RedisConnectionError } from '../../../runtime/errors.js'
import { decodeSimple, RespConnection } from '../../../transports/redis/resp-connection.js'
import { decodeReadReply } from '../../../transports/redis/streaming/read-reply.js'
import { testPrefix, useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { within } from './wait.js'

const raw = useRawRedis()
const endpoint = () => {
  const url = new URL(redisUrl())
  return { host: url.hostname, port: Number(url.port) }
}

describe('RespConnection', () => {
  it('runs the handshake (CLIENT ID, name) and commands in order; an error reply rejects only its command', async () => {
    const conn = await RespConnection.open(endpoint(), 'pulse test resp')
    try {
      expect(conn.id).toBeGreaterThan(0)
      const [name, bad, pong] = await Promise.allSettled([
        conn.call(['CLIENT', 'GETNAME'], decodeSimple),
        conn.call(['XADD', 'no-such-stream', 'NOMKSTREAM', 'bad-id', 'f', 'v'], decodeSimple),
        conn.call(['PING'], decodeSimple),
      ])
      expect(name).toEqual({ status: 'fulfilled', value: 'pulse_test_resp' })
      expect(bad.status).toBe('rejected')
      const error = (bad as PromiseRejectedResult).reason as RedisCommandError
      expect(error).toBeInstanceOf(RedisCommandError)
      expect(error.data).toMatchObject({ reply: 'ERR', retryable: false })
      expect(pong).toEqual({ status: 'fulfilled', value: 'PONG' })
    } finally {
      conn.close()
    }
  })

  it('authenticates as an ACL user; wrong credentials reject the open with the server’s WRONGPASS', async () => {
    const user = `${testPrefix().replace(/:/g, '')}user`
    await raw.call('ACL', 'SETUSER', user, 'on', '>secret', '~*', '&*', '+@all')
    try {
      const ok = await RespConnection.open({ ...endpoint(), username: user, password: 'secret' }, 'pulse-auth')
      expect(await ok.call(['ACL', 'WHOAMI'], decodeSimple)).toBe(user)
      ok.close()
      const wrong = await RespConnection.open({ ...endpoint(), username: user, password: 'nope' }, 'pulse-auth').catch(
        (e: unknown) => e,
      )
      expect(wrong).toBeInstanceOf(RedisCommandError)
      expect((wrong as RedisCommandError).data).toMatchObject({ reply: 'WRONGPASS' })
    } finally {
      await raw.call('ACL', 'DELUSER', user)
    }
  })

  it('decodes an XREADGROUP reply that spans many socket reads, byte for byte', async () => {
    const key = `${testPrefix()}big`
    const payloads = Array.from({ length: 40 }, (_, i) => Buffer.alloc(10_000 + i, i))
    for (const p of payloads) await raw.xadd(key, '*', 'n', 'big', 'p', p)
    await raw.xgroup('CREATE', key, 'g', '0')
    const conn = await RespConnection.open(endpoint(), 'pulse-big')
    try {
      const reply = await conn.call(
        ['XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 100, 'STREAMS', key, '>'],
        decodeReadReply,
      )
      const columns = reply?.[0]
      expect(columns?.ids).toHaveLength(40)
      expect(columns?.ids.map((_, i) => columns.src.subarray(columns.starts[i], columns.ends[i]))).toEqual(payloads)
      expect(
        await conn.call(
          ['XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 1, 'BLOCK', 10, 'STREAMS', key, '>'],
          decodeReadReply,
        ),
      ).toBeNull()
    } finally {
      conn.close()
      await raw.del(key)
    }
  })

  it('close() rejects pending commands with RedisConnectionError; later calls reject at once', async () => {
    const conn = await RespConnection.open(endpoint(), 'pulse-close')
    const pending = conn.call(['BLPOP', `${testPrefix()}nothing`, 0], decodeSimple).catch((e: unknown) => e)
    conn.close()
    expect(await pending).toBeInstanceOf(RedisConnectionError)
    expect(conn.closed).toBe(true)
    await expect(conn.call(['PING'], decodeSimple)).rejects.toBeInstanceOf(RedisConnectionError)
  })
})

describe('RespConnection and a server outage', () => {
  let server: LocalRedis
  beforeAll(async () => {
    server = await LocalRedis.start()
  })
  afterAll(async () => {
    await server.close()
  })

  it('a read blocked when the server stops rejects with RedisConnectionError; opening while it is down rejects too', async () => {
    const url = new URL(server.url)
    const at = { host: url.hostname, port: Number(url.port), connectTimeout: 2_000 }
    const conn = await RespConnection.open(at, 'pulse-outage')
    const pending = conn.call(['BLPOP', 'list', 0], decodeSimple).catch((e: unknown) => e)
    await server.stop()
    expect(await within(pending, 5_000, 'the blocked read to fail')).toBeInstanceOf(RedisConnectionError)
    await expect(RespConnection.open(at, 'pulse-outage')).rejects.toBeInstanceOf(RedisConnectionError)
    await server.start()
    const again = await RespConnection.open(at, 'pulse-outage')
    expect(await again.call(['PING'], decodeSimple)).toBe('PONG')
    again.close()
  })
})
