/**
 * Where the CLI connects: flags > environment > config file > defaults, the config file itself (a temporary
 * one per test), redacted URLs, and what `pulse config save` accepts.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import {
  checkSaved,
  configPath,
  readSavedConfig,
  redactUrl,
  resolveSettings,
  writeSavedConfig,
} from '../../../cli/common/settings.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pulse-settings-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Matches a refusal naming `option` (an asymmetric matcher, typed for `toThrow`). */
const invalid = (option: string): Error =>
  expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG', data: { option } }) as Error

describe('redacted URLs', () => {
  it('hide the password of a URL and keep everything else', () => {
    expect(redactUrl('postgres://alice:s3cret@db:5432/orders')).toBe('postgres://alice:***@db:5432/orders')
    expect(redactUrl('redis://:s3cret@cache:6379/2')).toBe('redis://:***@cache:6379/2')
    expect(redactUrl('redis://cache:6379')).toBe('redis://cache:6379')
    expect(redactUrl(undefined)).toBeUndefined()
  })

  it('hide a password given as a query parameter, which pg and ioredis both read', () => {
    expect(redactUrl('postgres://db/orders?user=alice&password=s3cret&sslmode=require')).toBe(
      'postgres://db/orders?user=alice&password=***&sslmode=require',
    )
    expect(redactUrl('postgres://u:p@db/o?sslpassword=k3y')).toBe('postgres://u:***@db/o?sslpassword=***')
    expect(redactUrl('redis://cache:6379/?Password=s3cret')).toBe('redis://cache:6379/?Password=***')
    expect(redactUrl('redis-cluster://a:1,b:2?password=s3cret')).toBe('redis-cluster://a:1,b:2?password=***')
  })

  it('hide the password of a cluster URL, which the URL parser does not take', () => {
    expect(redactUrl('redis-cluster://u:s3cret@a:1,b:2')).toBe('redis-cluster://u:***@a:1,b:2')
    expect(redactUrl('rediss-cluster://:s3cret@a:1,b:2')).toBe('rediss-cluster://:***@a:1,b:2')
    expect(redactUrl('redis-cluster://a:1,b:2')).toBe('redis-cluster://a:1,b:2')
  })

  it('never show a secret in anything they return', () => {
    for (const url of [
      'postgres://alice:s3cret@db/x',
      'postgresql://alice:s3cret@[::1]:5432/x',
      'postgres://db/x?password=s3cret',
      'redis://default:s3cret@h:1',
      'rediss-cluster://u:s3cret@a:1,b:2',
      'not a url ?password=s3cret',
    ]) {
      expect(redactUrl(url)).not.toContain('s3cret')
    }
  })
})

describe('the config file', () => {
  it('is $PULSE_CONFIG, else under $XDG_CONFIG_HOME, else ~/.config; empty variables do not count', () => {
    expect(configPath({ PULSE_CONFIG: '/etc/p.json', XDG_CONFIG_HOME: '/x' })).toBe('/etc/p.json')
    expect(configPath({ PULSE_CONFIG: '', XDG_CONFIG_HOME: '/x' })).toBe('/x/pulse/config.json')
    expect(configPath({ XDG_CONFIG_HOME: '' })).toMatch(/\/\.config\/pulse\/config\.json$/)
  })

  it('is written with mode 0600, in a folder it makes, and read back; a missing one is empty', async () => {
    const path = join(dir, 'nested', 'config.json')
    expect(await readSavedConfig(path)).toEqual({})
    await writeSavedConfig({ redis: 'redis://:pw@h:1', schema: 'jobs' }, path)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(await readSavedConfig(path)).toEqual({ redis: 'redis://:pw@h:1', schema: 'jobs' })
  })

  it('keeps only the known non-empty string settings', async () => {
    const path = join(dir, 'config.json')
    await writeFile(path, JSON.stringify({ redis: 'redis://h', database: '', schema: 5, extra: 'x', httpAddr: ':1' }))
    expect(await readSavedConfig(path)).toEqual({ redis: 'redis://h', httpAddr: ':1' })
  })

  it('refuses a file that is not JSON or not an object, naming it', async () => {
    const path = join(dir, 'config.json')
    await writeFile(path, '{ redis: ')
    await expect(readSavedConfig(path)).rejects.toThrow(`the config file ${path} is not JSON`)
    await writeFile(path, '["redis://h"]')
    await expect(readSavedConfig(path)).rejects.toThrow(invalid('config'))
  })
})

describe('resolved settings', () => {
  it('take each setting from its flag, else the environment, else the file, else the default', async () => {
    const path = join(dir, 'config.json')
    await writeSavedConfig({ redis: 'redis://file', database: 'postgres://file/db', schema: 'fromfile' }, path)
    const env = { PULSE_CONFIG: path, REDIS_URL: 'redis://env', DATABASE_URL: '' }
    const settings = await resolveSettings({ schema: 'fromflag' }, env)
    expect(settings).toEqual({
      redis: 'redis://env',
      database: 'postgres://file/db',
      schema: 'fromflag',
      httpAddr: '127.0.0.1:2021',
      timeoutMs: 10_000,
      transactionPooler: false,
      listenUrl: undefined,
    })
    expect((await resolveSettings({ redis: 'redis://flag' }, env)).redis).toBe('redis://flag')
    expect((await resolveSettings({}, { PULSE_CONFIG: join(dir, 'none.json') })).redis).toBeUndefined()
  })

  it('read the pooler switch as 1 or true only', async () => {
    const none = join(dir, 'none.json')
    for (const [value, on] of [
      ['1', true],
      ['true', true],
      ['yes', false],
      ['0', false],
    ] as const) {
      const settings = await resolveSettings({}, { PULSE_CONFIG: none, PULSE_PG_TRANSACTION_POOLER: value })
      expect(settings.transactionPooler).toBe(on)
    }
  })

  it('refuse a --timeout a timer cannot hold: past 2^31 − 1 ms Node would fire it at once', async () => {
    const env = { PULSE_CONFIG: join(dir, 'none.json') }
    expect((await resolveSettings({ timeout: '24d' }, env)).timeoutMs).toBe(2_073_600_000)
    await expect(resolveSettings({ timeout: '30d' }, env)).rejects.toThrow(invalid('--timeout'))
    await expect(resolveSettings({ timeout: '0ms' }, env)).rejects.toThrow(invalid('--timeout'))
  })
})

describe('pulse config save', () => {
  it('checks each setting before anything is written', () => {
    expect(
      checkSaved({
        redis: 'rediss-cluster://a:1,b:2',
        database: 'postgresql://h/db',
        schema: 'jobs_2',
        httpAddr: '[::1]:2021',
      }),
    ).toEqual({
      redis: 'rediss-cluster://a:1,b:2',
      database: 'postgresql://h/db',
      schema: 'jobs_2',
      httpAddr: '[::1]:2021',
    })
    expect(checkSaved({})).toEqual({})
  })

  it.each([
    [{ redis: 'http://h:6379' }, '--redis'],
    [{ redis: 'h:6379' }, '--redis'],
    [{ database: 'mysql://h/db' }, '--database'],
    [{ schema: 'Jobs' }, '--schema'],
    [{ schema: 'pg_jobs' }, '--schema'],
    [{ httpAddr: '2021' }, '--http-addr'],
    [{ httpAddr: 'host:70000' }, '--http-addr'],
    [{ httpAddr: 'my host:1' }, '--http-addr'],
  ])('refuses %j', (flags, option) => {
    expect(() => checkSaved(flags)).toThrow(invalid(option))
  })

  it('leaves the file as it was when a setting is refused', async () => {
    const path = join(dir, 'config.json')
    await writeSavedConfig({ schema: 'kept' }, path)
    expect(() => checkSaved({ schema: 'ok', redis: 'nope' })).toThrow()
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ schema: 'kept' })
  })
})
