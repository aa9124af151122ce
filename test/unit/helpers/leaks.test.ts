import { connect, createServer, type Socket } from 'node:net'

import { describe, expect, it } from 'vitest'

import { trackResource } from '../../../runtime/resource-tracker.js'
import { countHandles, settledLeaks } from '../../helpers/leaks.js'

// The leak check itself: what it must catch, and that it settles once things are closed.
describe('leak check', () => {
  it('reports a timer left running, and nothing once it is cleared', async () => {
    const before = countHandles()
    const timer = setInterval(() => undefined, 60_000)
    expect(await settledLeaks(before, 0, 50)).toEqual(['1 × Timeout'])
    clearInterval(timer)
    expect(await settledLeaks(before, 0, 50)).toEqual([])
  })

  it('reports an open socket and server, and waits for them to finish closing', async () => {
    const before = countHandles()
    const accepted: Socket[] = []
    const server = createServer((s) => accepted.push(s))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    const socket = connect(typeof address === 'object' && address !== null ? address.port : 0, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    const leaks = await settledLeaks(before, 0, 50)
    expect(leaks).toContain('1 × TCPServerWrap')
    expect(leaks.some((l) => l.endsWith('TCPSocketWrap'))).toBe(true)
    socket.destroy()
    for (const s of accepted) s.destroy()
    server.close()
    expect(await settledLeaks(before, 0, 2_000)).toEqual([])
  })

  it('reports a tracked library resource (a thread, a client) until it is released', async () => {
    const release = trackResource('redis', 'test client')
    expect(await settledLeaks(countHandles(), 0, 20)).toEqual(['redis test client'])
    release()
    expect(await settledLeaks(countHandles(), 0, 20)).toEqual([])
  })
})
