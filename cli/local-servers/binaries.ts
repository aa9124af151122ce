import { execFileSync } from 'node:child_process'
import { accessSync, constants, readdirSync } from 'node:fs'
import { delimiter, join } from 'node:path'

import { PulseError } from '../../runtime/errors.js'

/** The first executable called `name` on the PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here; keep looking
    }
  }
  return undefined
}

export function redisServerBinary(): string {
  const found = process.env.PULSE_REDIS_SERVER ?? which('redis-server')
  if (found !== undefined) return found
  throw new PulseError(
    'PULSE_ERR_INTERNAL',
    'redis-server is not installed: run `sudo apt-get install -y redis-server` (or `npm run setup`, which does it when it can)',
  )
}

const kDebianPgBouncer = '/usr/sbin/pgbouncer'

/** PgBouncer's binary: PULSE_PGBOUNCER, the PATH, or Debian's /usr/sbin/pgbouncer (off a user's PATH). */
export function pgbouncerBinary(): string {
  const found = process.env.PULSE_PGBOUNCER ?? which('pgbouncer') ?? kDebianPgBouncer
  if (isExecutable(found)) return found
  throw new PulseError(
    'PULSE_ERR_INTERNAL',
    'pgbouncer is not installed: run `npm run setup` (it installs it with apt-get when it can), or `sudo apt-get install -y pgbouncer`, or set PULSE_PGBOUNCER',
  )
}

/** The folder holding PostgreSQL's `initdb` and `postgres`: PULSE_PG_BIN, pg_config, Debian's layout, or the PATH. */
export function postgresBinDir(): string {
  const fromEnv = process.env.PULSE_PG_BIN
  if (fromEnv !== undefined) return fromEnv
  const candidates = [pgConfigBinDir(), ...debianBinDirs(), pathDirOf('initdb')]
  for (const dir of candidates) {
    if (dir !== undefined && isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'postgres'))) return dir
  }
  throw new PulseError(
    'PULSE_ERR_INTERNAL',
    'PostgreSQL binaries (initdb, postgres) were not found: run `sudo apt-get install -y postgresql` (or `npm run setup`), or set PULSE_PG_BIN',
  )
}

function pgConfigBinDir(): string | undefined {
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

function debianBinDirs(): string[] {
  try {
    return readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => `/usr/lib/postgresql/${v}/bin`)
  } catch {
    return []
  }
}

function pathDirOf(name: string): string | undefined {
  const found = which(name)
  return found === undefined ? undefined : join(found, '..')
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}
