/**
 * Where the CLI connects, and how: each setting from, first found, its flag, the environment, the saved
 * config file, the default (README.md, "Configuration").
 *
 * The file is `$PULSE_CONFIG`, else `$XDG_CONFIG_HOME/pulse/config.json`, else
 * `~/.config/pulse/config.json`; `pulse config save` checks what it is given (`checkSaved`) and writes
 * it with mode 0600 (it may hold passwords), and `pulse config view` shows the resolved settings with
 * every password redacted.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

import { InvalidArgumentError } from '../../runtime/errors.js'
import { kMaxTimerMs } from '../../runtime/options.js'
import { parseDuration } from './duration.js'

/** The settings a config file may hold (all optional). */
export interface SavedConfig {
  redis?: string
  database?: string
  schema?: string
  httpAddr?: string
}

export interface Settings {
  redis: string | undefined
  database: string | undefined
  schema: string
  httpAddr: string
  /** Bound of connecting and of each request to a server, ms. */
  timeoutMs: number
  /** `PULSE_PG_TRANSACTION_POOLER=1`: the database URL goes through PgBouncer in transaction mode. */
  transactionPooler: boolean
  /** `PULSE_LISTEN_URL`: where workers LISTEN (direct or session-pooled) when the URL goes through a pooler. */
  listenUrl: string | undefined
}

/** The flags every command that connects takes (commander's camel-cased names). */
export interface ConnectionFlags {
  redis?: string | undefined
  database?: string | undefined
  schema?: string | undefined
  timeout?: string | undefined
}

export const DEFAULT_SCHEMA = 'pulse'
export const DEFAULT_HTTP_ADDR = '127.0.0.1:2021'
export const DEFAULT_TIMEOUT = '10s'

const kSavedKeys: readonly (keyof SavedConfig)[] = ['redis', 'database', 'schema', 'httpAddr']

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (nonEmpty(env.PULSE_CONFIG) !== undefined) return env.PULSE_CONFIG as string
  const base = nonEmpty(env.XDG_CONFIG_HOME) ?? join(homedir(), '.config')
  return join(base, 'pulse', 'config.json')
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

/** The saved config, `{}` when there is none; a file that is not a JSON object is refused, naming it. */
export async function readSavedConfig(path = configPath()): Promise<SavedConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw error
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new InvalidArgumentError(`the config file ${path} is not JSON; fix it or save it again`, {
      data: { option: 'config' },
    })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArgumentError(`the config file ${path} must hold a JSON object`, { data: { option: 'config' } })
  }
  const saved: SavedConfig = {}
  for (const key of kSavedKeys) {
    const value = (parsed as Record<string, unknown>)[key]
    if (typeof value === 'string' && value !== '') saved[key] = value
  }
  return saved
}

/** Writes `config` to `path` with mode 0600, atomically (a temporary file renamed over it). */
export async function writeSavedConfig(config: SavedConfig, path = configPath()): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 })
  await chmod(temporary, 0o600)
  await rename(temporary, path)
}

/** The schema names `JobQueue.connect` accepts, checked here so that a bad one is never saved. */
const kSchemaPattern = /^(?!pg_)[a-z_][a-z0-9_]{0,62}$/

function checkUrl(value: string, flag: string, protocols: readonly string[]): string {
  // A cluster URL lists several host:port pairs, which the URL parser refuses: its scheme is enough here
  // (the connection checks the rest).
  let protocol = /^(rediss?-cluster:)\/\//.exec(value)?.[1]
  try {
    protocol ??= new URL(value).protocol
  } catch {
    protocol = undefined
  }
  if (protocol === undefined || !protocols.includes(protocol)) {
    throw new InvalidArgumentError(
      `${flag} must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
      {
        data: { option: flag },
      },
    )
  }
  return value
}

/** The settings of `flags`, checked; throws before anything is written. */
export function checkSaved(flags: SavedConfig): SavedConfig {
  const saved: SavedConfig = {}
  if (flags.redis !== undefined) {
    saved.redis = checkUrl(flags.redis, '--redis', ['redis:', 'rediss:', 'redis-cluster:', 'rediss-cluster:'])
  }
  if (flags.database !== undefined)
    saved.database = checkUrl(flags.database, '--database', ['postgres:', 'postgresql:'])
  if (flags.schema !== undefined) {
    if (!kSchemaPattern.test(flags.schema)) {
      throw new InvalidArgumentError(
        '--schema must be a lower-case SQL identifier (a-z, 0-9, _), not starting with pg_',
        {
          data: { option: '--schema' },
        },
      )
    }
    saved.schema = flags.schema
  }
  if (flags.httpAddr !== undefined) {
    const port = /^(?:\[[0-9a-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/i.exec(flags.httpAddr)?.[1]
    if (port === undefined || Number(port) > 65_535) {
      throw new InvalidArgumentError('--http-addr must be host:port, e.g. 127.0.0.1:2021', {
        data: { option: '--http-addr' },
      })
    }
    saved.httpAddr = flags.httpAddr
  }
  return saved
}

/** The settings of one run: flags > environment > saved config > defaults. */
export async function resolveSettings(
  flags: ConnectionFlags & { httpAddr?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): Promise<Settings> {
  const saved = await readSavedConfig(configPath(env))
  return {
    redis: nonEmpty(flags.redis) ?? nonEmpty(env.REDIS_URL) ?? saved.redis,
    database: nonEmpty(flags.database) ?? nonEmpty(env.DATABASE_URL) ?? saved.database,
    schema: nonEmpty(flags.schema) ?? nonEmpty(env.PULSE_SCHEMA) ?? saved.schema ?? DEFAULT_SCHEMA,
    httpAddr: nonEmpty(flags.httpAddr) ?? nonEmpty(env.PULSE_HTTP_ADDR) ?? saved.httpAddr ?? DEFAULT_HTTP_ADDR,
    timeoutMs: parseDuration(flags.timeout ?? DEFAULT_TIMEOUT, '--timeout', { min: 1, max: kMaxTimerMs }),
    transactionPooler: env.PULSE_PG_TRANSACTION_POOLER === '1' || env.PULSE_PG_TRANSACTION_POOLER === 'true',
    listenUrl: nonEmpty(env.PULSE_LISTEN_URL),
  }
}

/** Query parameters that carry a secret: pg and ioredis take a password from the query string too. */
const kSecretParams = /([?&](?:password|sslpassword)=)[^&#]*/gi

/**
 * `url` with its password replaced by `***`, in the user-info part and in a `password` (or
 * `sslpassword`) query parameter; a string that is not a URL keeps the rest as it is.
 */
export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined
  const query = url.replace(kSecretParams, '$1***')
  // A cluster URL (several host:port pairs) is not one the URL parser takes: its password is cut by hand.
  if (/^rediss?-cluster:\/\//.test(query)) return query.replace(/^([a-z-]+:\/\/[^:@/]*:)[^@]*@/, '$1***@')
  try {
    const parsed = new URL(query)
    if (parsed.password === '') return query
    parsed.password = '***'
    return parsed.toString()
  } catch {
    return query
  }
}
