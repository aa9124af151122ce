// `pulse schedules list | add | pause | resume | delete`: the built binary against the run's PostgreSQL,
// in a schema of this file's own; each result is checked in the printed JSON and through the library.
import { describe, expect, it } from 'vitest'

import type { ScheduleInfo } from '../../../actors/jobs/index.js'
import { pulseJson, runPulse, useCliDatabase } from '../../helpers/cli.js'
import { uniqueName } from '../jobs/helpers.js'

const cli = useCliDatabase(uniqueName('cli_schedules'), 'linus')
const withQueue = cli.withQueue.bind(cli)

const schedules = () => withQueue((queue) => queue.listSchedules())

async function scheduleNamed(name: string): Promise<ScheduleInfo | undefined> {
  return (await schedules()).find((s) => s.name === name)
}

describe('pulse schedules add', () => {
  it('creates a schedule, then replaces the one of its name, saying which', async () => {
    const name = uniqueName('nightly')
    const created = await pulseJson<{ id: string; created: boolean }>(
      ['schedules', 'add', name, '--cron', '0 3 * * *', '--job', 'rollup', '--payload', '{"days":7}'],
      { env: cli.env },
    )
    expect(created).toEqual({ id: expect.stringMatching(/^\d+$/) as unknown, created: true })
    expect(await scheduleNamed(name)).toMatchObject({
      id: created.id,
      jobName: 'rollup',
      args: { days: 7 },
      spec: { kind: 'cron', expr: '0 3 * * *', tz: 'UTC' },
      paused: false,
    })

    const replaced = await runPulse(['schedules', 'add', name, '--every', '5m'], { env: cli.env })
    expect(replaced.code, replaced.stderr).toBe(0)
    expect(replaced.stdout).toBe(`replaced schedule ${created.id} "${name}": job ${name}, every 5m\n`)
    expect(await scheduleNamed(name)).toMatchObject({
      id: created.id,
      jobName: name,
      args: {},
      spec: { kind: 'every', everyMs: 300_000 },
    })
    const at = await pulseJson(['schedules', 'add', name, '--at', '2030-01-31T09:00:00Z'], { env: cli.env })
    expect(at).toEqual({ id: created.id, created: false })
    await withQueue(async (queue) => {
      const actions = (await queue.auditLog({ limit: 3 })).map((a) => [a.actor, a.action, a.target])
      const target = `schedule:${created.id}`
      expect(actions).toEqual([
        ['cli:linus', 'schedule.update', target],
        ['cli:linus', 'schedule.update', target],
        ['cli:linus', 'schedule.create', target],
      ])
    })
  })

  it('refuses a bad cron, duration, date or payload (exit 1), and no timing or two (exit 2), writing nothing', async () => {
    const name = uniqueName('bad')
    const before = await schedules()
    for (const [args, code, text] of [
      [['--cron', '61 * * * *'], 1, 'pulse: PULSE_ERR_INVALID_ARG: --cron is not a valid cron expression'],
      [['--cron', 'every day'], 1, 'pulse: PULSE_ERR_INVALID_ARG: --cron must be a cron expression of 5 fields'],
      [['--cron', '0 3 * * *', '--tz', 'Mars/Olympus'], 1, 'PULSE_ERR_INVALID_ARG'],
      [['--every', '5 parsecs'], 1, 'pulse: PULSE_ERR_INVALID_ARG: --every must be a duration'],
      [['--at', 'next week'], 1, 'pulse: PULSE_ERR_INVALID_ARG: --at must be an ISO 8601 date'],
      [['--every', '1m', '--payload', '{oops'], 1, 'pulse: PULSE_ERR_INVALID_ARG: --payload must be JSON'],
      [[], 2, 'give when the schedule fires'],
      [['--every', '1m', '--cron', '* * * * *'], 2, 'cannot be used with option'],
      [['--every', '1m', '--tz', 'Europe/Paris'], 2, '--tz goes with --cron'],
    ] as const) {
      const run = await runPulse(['schedules', 'add', name, ...args], { env: cli.env })
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(code)
      expect(run.stdout).toBe('')
      expect(run.stderr).toContain(text)
    }
    expect(await schedules()).toEqual(before)
  })
})

describe('pulse schedules list / pause / resume / delete', () => {
  it('lists, pauses, resumes and deletes by id', async () => {
    const name = uniqueName('hourly')
    const { id } = await pulseJson<{ id: string }>(['schedules', 'add', name, '--cron', '@hourly'], { env: cli.env })
    const listed = await pulseJson<{ schedules: { id: string; name: string }[] }>(['schedules', 'list'], {
      env: cli.env,
    })
    expect(listed.schedules).toContainEqual(expect.objectContaining({ id, name, jobName: name, paused: false }))
    const table = await runPulse(['schedules', 'list'], { env: cli.env })
    expect(table.stdout).toMatch(new RegExp(`│ ${id} +│ ${name} +│ ${name} +│ cron @hourly +│`))

    expect(await pulseJson(['schedules', 'pause', id], { env: cli.env })).toEqual({ id, paused: true })
    expect(await scheduleNamed(name)).toMatchObject({ paused: true })
    expect(await pulseJson(['schedules', 'resume', id], { env: cli.env })).toEqual({ id, paused: false })
    expect(await scheduleNamed(name)).toMatchObject({ paused: false })
    const deleted = await runPulse(['schedules', 'delete', id], { env: cli.env })
    expect(deleted.stdout).toBe(`deleted schedule ${id}\n`)
    expect(await scheduleNamed(name)).toBeUndefined()
    await withQueue(async (queue) => {
      const actions = (await queue.auditLog({ limit: 3 })).map((a) => [a.actor, a.action, a.target])
      expect(actions).toEqual([
        ['cli:linus', 'schedule.delete', `schedule:${id}`],
        ['cli:linus', 'schedule.resume', `schedule:${id}`],
        ['cli:linus', 'schedule.pause', `schedule:${id}`],
      ])
    })
  })

  it('an unknown id fails with PULSE_ERR_JOB_SCHEDULE_NOT_FOUND (exit 1), changing nothing', async () => {
    const before = await schedules()
    for (const verb of ['pause', 'resume', 'delete']) {
      const run = await runPulse(['schedules', verb, '987654321'], { env: cli.env })
      expect(run.code).toBe(1)
      expect(run.stderr).toBe('pulse: PULSE_ERR_JOB_SCHEDULE_NOT_FOUND: no schedule has id "987654321"\n')
    }
    expect(await schedules()).toEqual(before)
  })
})
