/**
 * `npm run chaos`: the fault-injection scenarios (vitest.chaos.config.ts, servers from the vitest
 * global setup), then their table and the closing line. Exits non-zero when a scenario failed or a
 * guarantee did not hold. `--long` runs the long form (long.ts); other arguments go to vitest
 * (`npm run chaos -- test/chaos/rmap.chaos.ts`).
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

import { clearResults, readResults } from './results.js'
import { summarize } from './summary.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const args = process.argv.slice(2)
const long = args.includes('--long')
/** Scenarios that run in both forms, then those of the long form only. */
const scenarios = ['jobs', 'streaming', 'rmap', 'pool', 'bus', 'runtime']
const longOnly: string[] = ['soak']

const vitestArgs = args.filter((a) => a !== '--long')
const filters = vitestArgs.filter((a) => !a.startsWith('-'))
const all = long ? [...scenarios, ...longOnly] : scenarios
const expected = filters.length === 0 ? all : all.filter((s) => filters.some((f) => f.includes(s)))

clearResults()
const started = Date.now()
const vitest = spawn(
  process.execPath,
  ['node_modules/vitest/vitest.mjs', 'run', '--config', 'vitest.chaos.config.ts', ...vitestArgs],
  { cwd: root, stdio: 'inherit', env: { ...process.env, PULSE_CHAOS_LONG: long ? '1' : '0' } },
)
const [code] = (await once(vitest, 'exit')) as [number | null]
console.log(`\nchaos run: ${((Date.now() - started) / 1000).toFixed(1)} s`)
const kept = summarize(readResults(), expected)
process.exitCode = code === 0 && kept ? 0 : 1
