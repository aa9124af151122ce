/**
 * The close of the embedded servers (cli/local-servers/): memoised and final, a second stop at once is
 * harmless (the guard reads one order), a close after a stop still removes the temporary folder, and
 * `destroy()` kills the server at once. Private servers: closing the run's shared ones would disturb
 * the other files.
 */
import { existsSync } from 'node:fs'
import { connect } from 'node:net'

import { describe, expect, it } from 'vitest'

import { LocalPostgres } from '../../../cli/local-servers/postgres-server.js'
import { LocalRedis } from '../../../cli/local-servers/redis-server.js'
import { ClosedError } from '../../../runtime/errors.js'

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

describe('LocalRedis close', () => {
  it('close() twice at once: one promise, the server down and its folder gone; start() after it is refused', async () => {
    const server = await LocalRedis.start()
    const first = server.close()
    expect(server.close()).toBe(first)
    await first
    expect(server.running).toBe(false)
    expect(await portOpen(server.port)).toBe(false)
    expect(existsSync(server.dir)).toBe(false)
    await expect(server.start()).rejects.toThrow(ClosedError)
    await expect(server.restart()).rejects.toThrow(ClosedError)
  })

  it('stop() twice at once is one stop; close() after a stop removes the temporary folder', async () => {
    const server = await LocalRedis.start()
    await Promise.all([server.stop(), server.stop()])
    expect(server.running).toBe(false)
    expect(existsSync(server.dir)).toBe(true)
    await server.start()
    expect(await portOpen(server.port)).toBe(true)
    await server.stop()
    await server.close()
    expect(existsSync(server.dir)).toBe(false)
  })

  it('destroy() kills the server at once and removes its folder; close() after it resolves', async () => {
    const server = await LocalRedis.start()
    await server.destroy()
    expect(server.running).toBe(false)
    expect(await portOpen(server.port)).toBe(false)
    expect(existsSync(server.dir)).toBe(false)
    expect(server.state).toBe('destroyed')
    await server.close()
  })
})

describe('LocalPostgres close', () => {
  it('close() after a stop removes the temporary cluster; start() after it is refused', async () => {
    const server = await LocalPostgres.start({ fast: true })
    await server.stop()
    expect(existsSync(server.dir)).toBe(true)
    await Promise.all([server.close(), server.close()])
    expect(existsSync(server.dir)).toBe(false)
    await expect(server.start()).rejects.toThrow(ClosedError)
  })
})
