// `pulse dispatch pause | resume | status`: the built binary against the run's PostgreSQL, in a cli.schema
// of this file's own; the switch is checked through the library, and each action in the audit log.
import { describe, expect, it } from 'vitest'

import { pulseJson, runPulse, useCliDatabase } from '../../helpers/cli.js'
import { uniqueName } from '../jobs/helpers.js'

const cli = useCliDatabase(uniqueName('cli_dispatch'), 'grace')
const withQueue = cli.withQueue.bind(cli)

describe('pulse dispatch', () => {
  it('pause -m records the reason; status shows it; resume clears it; each action is audited as cli:<user>', async () => {
    const paused = await pulseJson<{ paused: boolean; reason: string | null; pausedAt: string | null }>(
      ['dispatch', 'pause', '-m', 'db maintenance'],
      { env: cli.env },
    )
    expect(paused).toMatchObject({ paused: true, reason: 'db maintenance' })
    expect(Number.isNaN(Date.parse(paused.pausedAt ?? ''))).toBe(false)
    await withQueue(async (queue) => {
      expect(await queue.dispatchStatus()).toMatchObject({ paused: true, reason: 'db maintenance' })
      const [audit] = await queue.auditLog({ limit: 1 })
      expect(audit).toMatchObject({ actor: 'cli:grace', action: 'dispatch.pause', reason: 'db maintenance' })
    })
    expect(await pulseJson(['dispatch', 'status'], { env: cli.env })).toEqual(paused)
    const human = await runPulse(['dispatch', 'status'], { env: cli.env })
    expect(human.stdout).toMatch(/│ dispatch +│ paused +│/)
    expect(human.stdout).toMatch(/│ reason +│ db maintenance +│/)

    const resumed = await pulseJson(['dispatch', 'resume', '-m', 'done'], { env: cli.env })
    expect(resumed).toEqual({ paused: false, reason: null, pausedAt: paused.pausedAt })
    await withQueue(async (queue) => {
      expect(await queue.dispatchStatus()).toMatchObject({ paused: false, reason: undefined })
      const [audit] = await queue.auditLog({ limit: 1 })
      expect(audit).toMatchObject({ actor: 'cli:grace', action: 'dispatch.resume', reason: 'done' })
    })
  })

  it('pause without -m is a usage error (exit code 2) and changes nothing', async () => {
    const before = await withQueue((queue) => queue.dispatchStatus())
    const run = await runPulse(['dispatch', 'pause'], { env: cli.env })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("required option '-m, --message <reason>' not specified")
    expect(await withQueue((queue) => queue.dispatchStatus())).toEqual(before)
  })
})
