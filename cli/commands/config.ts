/**
 * `pulse config save | view`: the CLI's saved settings.
 *
 * `save` merges the given settings into the config file (`$PULSE_CONFIG`, else
 * `~/.config/pulse/config.json`), written with mode 0600 since URLs may hold passwords. `view` shows
 * the settings a command would use — each from its flag, else the environment, else the file, else
 * the default — with every password redacted (`--json`: `{ redis, database, schema, httpAddr,
 * timeoutMs }`, null when unset).
 */
import { Command } from 'commander'

import { withConnectionFlags } from '../common/connect.js'
import { print, printJson, printRecord, printTable } from '../common/output.js'
import {
  checkSaved,
  configPath,
  type ConnectionFlags,
  readSavedConfig,
  redactUrl,
  resolveSettings,
  type SavedConfig,
  writeSavedConfig,
} from '../common/settings.js'

interface SaveFlags extends SavedConfig {
  json?: boolean
}

interface ViewFlags extends ConnectionFlags {
  httpAddr?: string
  json?: boolean
}

/** Where each setting comes from besides its flag: its variable and its key in the file. */
const kSources = [
  { key: 'redis', env: 'REDIS_URL' },
  { key: 'database', env: 'DATABASE_URL' },
  { key: 'schema', env: 'PULSE_SCHEMA' },
  { key: 'httpAddr', env: 'PULSE_HTTP_ADDR' },
] as const

export function configCommand(): Command {
  const config = new Command('config').description('save and view the CLI\u2019s settings')
  config.addCommand(
    new Command('save')
      .description('save settings to the config file (mode 0600), keeping the ones not given')
      .option('--redis <url>', 'Redis URL: redis://, rediss:// or redis-cluster://host:port,host:port')
      .option('--database <url>', 'PostgreSQL URL, postgres:// or postgresql://')
      .option('--schema <name>', 'the job queue\u2019s schema')
      .option('--http-addr <host:port>', 'the address of pulse server')
      .option('--json', 'print {"path", "config"} as JSON, passwords redacted')
      .action((flags: SaveFlags, command: Command) => runSave(flags, command)),
  )
  config.addCommand(
    withConnectionFlags(new Command('view'), { redis: true, database: true })
      .description('the settings commands use, and where each comes from; passwords redacted')
      .option(
        '--http-addr <host:port>',
        'the address of pulse server (default: PULSE_HTTP_ADDR, then the saved config)',
      )
      .option('--json', 'print the settings as JSON')
      .action((flags: ViewFlags, command: Command) => runView(flags, command)),
  )
  return config
}

function redacted(config: SavedConfig): SavedConfig {
  const copy = { ...config }
  if (copy.redis !== undefined) copy.redis = redactUrl(copy.redis) as string
  if (copy.database !== undefined) copy.database = redactUrl(copy.database) as string
  return copy
}

async function runSave(flags: SaveFlags, command: Command): Promise<void> {
  const given = checkSaved(flags)
  if (Object.keys(given).length === 0) {
    command.error('error: give at least one setting to save: --redis, --database, --schema or --http-addr', {
      exitCode: 2,
    })
  }
  const path = configPath()
  const config = { ...(await readSavedConfig(path)), ...given }
  await writeSavedConfig(config, path)
  print(flags.json, { path, config: redacted(config) }, () => {
    process.stdout.write(`saved to ${path}\n`)
    printRecord({ ...redacted(config) })
  })
}

type Source = 'flag' | 'environment' | 'config file' | 'default' | 'not set'

function sourceOf(flag: string | undefined, env: string | undefined, saved: string | undefined): Source {
  if (flag !== undefined && flag !== '') return 'flag'
  if (env !== undefined && env !== '') return 'environment'
  return saved === undefined ? 'default' : 'config file'
}

async function runView(flags: ViewFlags, command: Command): Promise<void> {
  const settings = await resolveSettings(flags)
  const document = {
    redis: redactUrl(settings.redis) ?? null,
    database: redactUrl(settings.database) ?? null,
    schema: settings.schema,
    httpAddr: settings.httpAddr,
    timeoutMs: settings.timeoutMs,
  }
  if (flags.json === true) return printJson(document)
  const path = configPath()
  const saved = await readSavedConfig(path)
  const rows = kSources.map(({ key, env }) => {
    const value = document[key]
    return [key, value, value === null ? 'not set' : sourceOf(flags[key], process.env[env], saved[key])]
  })
  const timeoutFrom = command.getOptionValueSource('timeout') === 'default' ? 'default' : 'flag'
  printTable(['setting', 'value', 'from'], [...rows, ['timeout', `${settings.timeoutMs} ms`, timeoutFrom]])
  process.stdout.write(`config file: ${path}\n`)
}
