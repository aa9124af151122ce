// The command line's contract for every command: usage errors exit 2 with the usage, failures exit 1
// with one line naming the code (and the stack with --verbose), and --help lists every command.
import { describe, expect, it } from 'vitest'

import { runPulse } from '../../helpers/cli.js'

const kCommands = [
  'dev',
  'server',
  'submit',
  'jobs',
  'dispatch',
  'schedules',
  'stats',
  'streams',
  'maps',
  'pool',
].concat(['bus', 'supervise', 'passwd', 'config'])

describe('pulse usage', () => {
  it('lists every command of the contract in --help (exit 0)', async () => {
    const help = await runPulse(['--help'])
    expect(help.code).toBe(0)
    for (const command of kCommands) expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'))
  })

  it('exits 2 with the usage for an unknown command, subcommand or flag', async () => {
    for (const args of [['frobnicate'], ['jobs', 'explode'], ['stats', '--colour', 'red'], ['submit']]) {
      const run = await runPulse(args)
      expect(run.code, args.join(' ')).toBe(2)
      expect(run.stderr, args.join(' ')).toMatch(/^error: /m)
      expect(run.stderr, args.join(' ')).toMatch(/Usage: pulse/)
    }
  })

  it('prints one line with the code on a failure, and the stack with --verbose', async () => {
    const plain = await runPulse(['submit', 'x', '{not json'])
    expect(plain.code).toBe(1)
    expect(plain.stderr).toMatch(/^pulse: PULSE_ERR_INVALID_ARG: the JSON .*must be JSON/)
    expect(plain.stderr.trim().split('\n')).toHaveLength(1)
    const verbose = await runPulse(['submit', 'x', '{not json', '--verbose'])
    expect(verbose.code).toBe(1)
    expect(verbose.stderr).toMatch(/\n\s+at /)
  })
})
