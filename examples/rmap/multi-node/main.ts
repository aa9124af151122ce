// Two processes share a replicated map: this one listens, a child process (this same file with
// --write) resets the map and writes nine keys; the listener prints the size on each notification
// until it sees all nine. Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/rmap/multi-node/main.ts
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

import { ReplicatedMap } from 'pulse-runtime/rmap'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const name = 'example-multi-node'

if (process.argv.includes('--write')) {
  const map = await ReplicatedMap.join(url, name, { slidingTtlMs: 60_000 })
  await map.reset()
  for (let i = 1; i <= 9; i++) await map.set(`key${i}`, `value${i}`)
  console.log('[writer] wrote 9 keys')
  await map.close()
} else {
  const map = await ReplicatedMap.join(url, name, { slidingTtlMs: 60_000 })
  const changes = map.subscribe()
  // The writer: this same program in a second node process (with the loader this one runs under).
  const writer = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--write'], {
    stdio: 'inherit',
  })
  const timeout = setTimeout(() => {
    console.error('[listener] timed out')
    process.exit(1)
  }, 20_000)
  // The writer resets the map first: wait for the nine keys it writes after that.
  let complete = false
  for await (const kind of changes) {
    const size = map.size
    console.log(`[listener] ${kind}: ${size} keys`)
    if (size === 9 && map.get('key9') === 'value9') {
      complete = true
      break
    }
  }
  const [code] = (await once(writer, 'exit')) as [number | null]
  clearTimeout(timeout)
  console.log('[listener] content:', map.toObject())
  await map.destroy()
  await map.close()
  if (!complete || code !== 0) process.exit(1)
}
