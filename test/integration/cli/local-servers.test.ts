import { existsSync } from 'node:fs'
import { connect } from 'node:net'

import { describe, expect, it } from 'vitest'

import { spawnTs } from '../../helpers/child.js'
import { waitFor } from '../../helpers/wait.js'

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

describe('embedded local servers', () => {
  for (const signal of ['SIGKILL', 'SIGINT'] as const) {
    it(`leave no server and no folder behind when their owner dies of ${signal}`, async () => {
      const child = spawnTs('test/fixtures/hold-servers.ts', [])
      const line = await child.waitForLine(/^\{/)
      const { redisPort, redisDir, pgPort, pgDir } = JSON.parse(line) as {
        redisPort: number
        redisDir: string
        pgPort: number
        pgDir: string
      }
      expect(await portOpen(redisPort)).toBe(true)
      expect(await portOpen(pgPort)).toBe(true)

      child.process.kill(signal)
      await child.exited
      await waitFor(async () => !(await portOpen(redisPort)) && !(await portOpen(pgPort)), {
        intervalMs: 50,
        what: 'both servers to stop listening',
      })
      await waitFor(() => !existsSync(redisDir) && !existsSync(pgDir), { intervalMs: 50, what: 'both folders to go' })
    })
  }
})
