// `pulse config save | view` and `pulse passwd`: the built binary with a config file of the test's own.
import { mkdtempSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import bcrypt from 'bcryptjs'
import { describe, expect, it } from 'vitest'

import { pulseJson, runPulse } from '../../helpers/cli.js'

function configFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'pulse-config-test-')), 'pulse', 'config.json')
}

interface View {
  redis: string | null
  database: string | null
  schema: string
  httpAddr: string
  timeoutMs: number
}

describe('pulse config', () => {
  it('save writes the file with mode 0600 and keeps the settings not given; view redacts passwords', async () => {
    const path = configFile()
    const env = { PULSE_CONFIG: path }
    const saved = await pulseJson(
      [
        'config',
        'save',
        '--database',
        'postgres://ada:s3cret@db.local:5432/app',
        '--redis',
        'redis://:r3dis@cache:6379',
      ],
      { env },
    )
    expect(saved).toEqual({
      path,
      config: { database: 'postgres://ada:***@db.local:5432/app', redis: 'redis://:***@cache:6379' },
    })
    await pulseJson(['config', 'save', '--schema', 'billing', '--http-addr', '0.0.0.0:8080'], { env })
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
      database: 'postgres://ada:s3cret@db.local:5432/app',
      redis: 'redis://:r3dis@cache:6379',
      schema: 'billing',
      httpAddr: '0.0.0.0:8080',
    })

    const view = await runPulse(['config', 'view', '--json'], { env })
    expect(view.stdout).not.toContain('s3cret')
    expect(view.stdout).not.toContain('r3dis')
    expect(JSON.parse(view.stdout)).toEqual({
      database: 'postgres://ada:***@db.local:5432/app',
      redis: 'redis://:***@cache:6379',
      schema: 'billing',
      httpAddr: '0.0.0.0:8080',
      timeoutMs: 10_000,
    })
    const table = await runPulse(['config', 'view'], { env })
    expect(table.stdout).toMatch(/│ database +│ postgres:\/\/ada:\*\*\*@db\.local:5432\/app +│ config file +│/)
    expect(table.stdout).not.toContain('s3cret')
  })

  it('save takes a Redis Cluster URL (several host:port pairs) and view redacts its password', async () => {
    const env = { PULSE_CONFIG: configFile() }
    const url = 'redis-cluster://app:cl0ster@10.0.0.1:7000,10.0.0.2:7000'
    const saved = await pulseJson(['config', 'save', '--redis', url], { env })
    expect(saved).toMatchObject({ config: { redis: 'redis-cluster://app:***@10.0.0.1:7000,10.0.0.2:7000' } })
    const view = await runPulse(['config', 'view', '--json'], { env })
    expect(view.stdout).not.toContain('cl0ster')
    expect(JSON.parse(view.stdout)).toMatchObject({ redis: 'redis-cluster://app:***@10.0.0.1:7000,10.0.0.2:7000' })
  })

  it('view: a flag beats the environment, which beats the file, which beats the default', async () => {
    const path = configFile()
    await pulseJson(['config', 'save', '--database', 'postgres://file@h/f', '--schema', 'from_file'], {
      env: { PULSE_CONFIG: path },
    })
    const fromFile = await pulseJson<View>(['config', 'view'], { env: { PULSE_CONFIG: path } })
    expect(fromFile).toMatchObject({ database: 'postgres://file@h/f', schema: 'from_file', redis: null })
    expect(fromFile.httpAddr).toBe('127.0.0.1:2021')

    const env = { PULSE_CONFIG: path, DATABASE_URL: 'postgres://env:pw@h/e', PULSE_SCHEMA: 'from_env' }
    const fromEnv = await pulseJson<View>(['config', 'view'], { env })
    expect(fromEnv).toMatchObject({ database: 'postgres://env:***@h/e', schema: 'from_env' })

    const flags = ['--database', 'postgres://flag@h/x', '--schema', 'from_flag', '--timeout', '3s']
    const fromFlags = await pulseJson<View>(['config', 'view', ...flags], { env })
    expect(fromFlags).toMatchObject({ database: 'postgres://flag@h/x', schema: 'from_flag', timeoutMs: 3_000 })
    const table = await runPulse(['config', 'view', '--schema', 'from_flag'], { env })
    expect(table.stdout).toMatch(/│ schema +│ from_flag +│ flag +│/)
    expect(table.stdout).toMatch(/│ database +│ postgres:\/\/env:\*\*\*@h\/e +│ environment +│/)
  })

  it('save refuses a bad URL, schema or address (exit 1) and nothing to save (exit 2), writing nothing', async () => {
    const path = configFile()
    const env = { PULSE_CONFIG: path }
    for (const [args, text] of [
      [['--database', 'mysql://u@h/db'], '--database must be a URL starting with postgres:// or postgresql://'],
      [['--redis', 'not a url'], '--redis must be a URL'],
      [['--schema', 'Bad-Name'], '--schema must be a lower-case SQL identifier'],
      [['--http-addr', 'localhost'], '--http-addr must be host:port'],
    ] as const) {
      const run = await runPulse(['config', 'save', ...args], { env })
      expect(run.code).toBe(1)
      expect(run.stderr.startsWith(`pulse: PULSE_ERR_INVALID_ARG: ${text}`), run.stderr).toBe(true)
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
    }
    const nothing = await runPulse(['config', 'save'], { env })
    expect(nothing.code).toBe(2)
    expect(nothing.stderr).toContain('give at least one setting to save')
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

describe('pulse passwd', () => {
  it('prints a bcrypt hash of the argument, or of standard input (- or no argument)', async () => {
    const plain = await runPulse(['passwd', 'correct horse'])
    expect(plain.code, plain.stderr).toBe(0)
    const hash = plain.stdout.trim()
    expect(hash).toMatch(/^\$2[aby]\$10\$[./A-Za-z0-9]{53}$/)
    expect(await bcrypt.compare('correct horse', hash)).toBe(true)
    expect(await bcrypt.compare('wrong horse', hash)).toBe(false)

    const piped = await pulseJson<{ hash: string }>(['passwd'], { input: 'from stdin\n' })
    expect(await bcrypt.compare('from stdin', piped.hash)).toBe(true)
    const dash = await runPulse(['passwd', '-', '--cost', '4'], { input: 'dash' })
    expect(dash.stdout).toMatch(/^\$2[aby]\$04\$/)
    expect(await bcrypt.compare('dash', dash.stdout.trim())).toBe(true)
  })

  it('refuses an empty password (exit 1)', async () => {
    const run = await runPulse(['passwd'], { input: '' })
    expect(run.code).toBe(1)
    expect(run.stderr).toBe('pulse: PULSE_ERR_INVALID_ARG: the password is empty\n')
  })
})
