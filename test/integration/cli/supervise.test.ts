import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

import { afterAll, afterEach, describe, expect, it } from 'vitest'

import { alive, type Child, spawnTs } from '../../helpers/child.js'

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/processes/${name}`, import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'pulse-supervise-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let configs = 0
function writeConfig(config: unknown): string {
  const file = join(dir, `config-${++configs}.json`)
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config))
  return file
}

// What a test started, killed even when it failed.
const clis: Child[] = []
const childPids: number[] = []
afterEach(async () => {
  for (const cli of clis.splice(0)) {
    if (cli.process.exitCode === null && cli.process.signalCode === null) cli.process.kill('SIGKILL')
    await cli.exited
  }
  for (const pid of childPids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone already
    }
  }
})

function supervise(file: string): Child {
  const cli = spawnTs('cli/main.ts', ['supervise', file])
  clis.push(cli)
  return cli
}

describe('pulse supervise CONFIG', () => {
  it('runs the children with prefixed output; SIGTERM stops them (draining) and exits 0', async () => {
    const file = writeConfig({
      children: [{ name: 'web', command: process.execPath, args: [fixture('worker.mjs')], instances: 2, ready: true }],
      shutdownTimeoutMs: 2_000,
    })
    const cli = supervise(file)
    const pids: number[] = []
    for (const instance of [0, 1]) {
      const line = await cli.waitForLine(new RegExp(`^\\[web#${instance}\\] started pid=\\d+ instance=${instance}$`))
      const pid = Number(/pid=(\d+)/.exec(line)?.[1])
      pids.push(pid)
      childPids.push(pid)
    }
    for (const pid of pids) expect(alive(pid)).toBe(true)
    cli.process.kill('SIGTERM')
    expect(await cli.exited).toBe(0)
    expect(cli.lines).toEqual(
      expect.arrayContaining(['[web#0] draining', '[web#1] draining', '[web#0] stderr of instance=0']),
    )
    expect(cli.lines).toContain('stderr: pulse supervise: stopped')
    for (const pid of pids) expect(alive(pid)).toBe(false)
  })

  it('exits 1 with the error code on invalid options', async () => {
    const file = writeConfig({ children: [{ name: 'web', command: process.execPath, restart: 'sometimes' }] })
    const cli = supervise(file)
    expect(await cli.exited).toBe(1)
    expect(cli.lines).toContain(
      'stderr: pulse: PULSE_ERR_INVALID_ARG: options.children[0].restart must be one of "permanent", "transient", "temporary" (got "sometimes")',
    )
  })

  it('exits 1 with the error code on a file that is not JSON, or missing', async () => {
    const bad = supervise(writeConfig('{ "children": ['))
    const missing = supervise(join(dir, 'no-such-config.json'))
    expect(await bad.exited).toBe(1)
    expect(await missing.exited).toBe(1)
    expect(bad.lines).toEqual([
      expect.stringMatching(/^stderr: pulse: PULSE_ERR_INVALID_ARG: CONFIG: .*config-\d+\.json is not valid JSON/),
    ])
    expect(missing.lines).toEqual([
      expect.stringMatching(
        /^stderr: pulse: PULSE_ERR_INVALID_ARG: CONFIG: cannot read .*no-such-config\.json: ENOENT/,
      ),
    ])
  })

  it('stops once every child has ended: exit 0, or 1 naming those that failed; a relative cwd is from the config folder', async () => {
    // cwd relative to the config file's folder, the script relative to that cwd
    const ok = {
      name: 'ok',
      command: process.execPath,
      args: ['exit-code.mjs', '0'],
      cwd: relative(dir, dirname(fixture('exit-code.mjs'))),
      restart: 'temporary',
    }
    const bad = { name: 'bad', command: process.execPath, args: [fixture('exit-code.mjs'), '3'], restart: 'temporary' }
    const clean = supervise(writeConfig({ children: [ok] }))
    const failing = supervise(writeConfig({ children: [ok, bad] }))
    expect(await clean.exited).toBe(0)
    expect(await failing.exited).toBe(1)
    expect(clean.lines).toContainEqual(expect.stringMatching(/^\[ok#0\] exiting with 0 pid=\d+$/))
    expect(clean.lines).toContain('stderr: pulse supervise: stopped')
    expect(failing.lines).toContainEqual(expect.stringMatching(/^\[bad#0\] exiting with 3 pid=\d+$/))
    expect(failing.lines).toContain(
      'stderr: pulse: PULSE_ERR_INTERNAL: stopped; these children had failed: bad#0 (code 3)',
    )
  })

  it('exits 1 when the supervisor gives up', async () => {
    const file = writeConfig({
      children: [{ name: 'bad', command: process.execPath, args: [fixture('exit-code.mjs'), '3'] }],
      maxRestarts: 1,
      backoffMs: 10,
    })
    const cli = supervise(file)
    expect(await cli.exited).toBe(1)
    expect(cli.lines.filter((l) => l.startsWith('[bad#0] exiting with 3'))).toHaveLength(2)
    expect(cli.lines).toContainEqual(
      expect.stringMatching(
        /^stderr: pulse: PULSE_ERR_SUPERVISOR_GAVE_UP: bad#0 \(pid \d+\) exited with code 3: more than 1 restarts within 60000 ms/,
      ),
    )
  })
})
