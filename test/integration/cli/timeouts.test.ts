// A server that accepts connections and never answers: every command that connects fails within its
// --timeout with one line naming the server (PULSE_ERR_TIMEOUT), and never hangs.
import { createServer, type Server, type Socket } from 'node:net'

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

import { runPulse } from '../../helpers/cli.js'

let silent: Server
let port = 0
const sockets = new Set<Socket>()

beforeAll(async () => {
  silent = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  port = (silent.address() as { port: number }).port
})

// The child has exited; its connections end with it, and the server's side goes now.
afterEach(() => {
  for (const socket of sockets) socket.destroy()
})

afterAll(async () => {
  await new Promise((resolve) => silent.close(resolve))
})

describe('pulse … --timeout against a server that never answers', () => {
  it.each([
    ['stats', ['stats', '--database', 'DB']],
    ['jobs list', ['jobs', 'list', '--database', 'DB']],
    ['server', ['server', '--database', 'DB']],
    ['maps get', ['maps', 'get', 'm', '--redis', 'REDIS']],
    ['streams info', ['streams', 'info', 's', '--redis', 'REDIS']],
  ])('%s fails with PULSE_ERR_TIMEOUT within the bound', async (_, args) => {
    const filled = args.map((a) =>
      a === 'DB' ? `postgres://u:secret@127.0.0.1:${port}/x` : a === 'REDIS' ? `redis://127.0.0.1:${port}` : a,
    )
    const t0 = Date.now()
    const run = await runPulse([...filled, '--timeout', '1s'], { timeoutMs: 15_000 })
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^pulse: PULSE_ERR_TIMEOUT: .*127\.0\.0\.1.* did not answer within 1000 ms/)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
    expect(run.stderr).not.toContain('secret')
    expect(Date.now() - t0).toBeLessThan(10_000)
  })
})
