/**
 * Opening what a command needs, within `--timeout`: a server that does not answer fails the command
 * with `PULSE_ERR_TIMEOUT` naming it, never a hang. Missing settings fail with the flag, variable and
 * `pulse config save` option that would give them.
 */
import type { Command } from 'commander'

import { JobQueue, type JobQueueOptions } from '../../actors/jobs/index.js'
import {
  InvalidArgumentError,
  isPulseError,
  PulseError,
  RedisConnectionError,
  TimeoutError,
} from '../../runtime/errors.js'
import { type ConnectionFlags, DEFAULT_TIMEOUT, redactUrl, resolveSettings, type Settings } from './settings.js'

/** Adds the connection flags to `command` (`redis`/`database` as it needs them). */
export function withConnectionFlags(command: Command, needs: { redis?: boolean; database?: boolean }): Command {
  if (needs.redis === true) command.option('--redis <url>', 'Redis URL (default: REDIS_URL, then the saved config)')
  if (needs.database === true) {
    command
      .option('--database <url>', 'PostgreSQL URL (default: DATABASE_URL, then the saved config)')
      .option('--schema <name>', 'the job queue\u2019s schema (default: PULSE_SCHEMA, the saved config, pulse)')
  }
  return command.option('--timeout <duration>', 'bound of connecting and of each request', DEFAULT_TIMEOUT)
}

/** Rejects with `TimeoutError` naming `what` when `promise` takes longer than `timeoutMs`. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new TimeoutError(`${what} did not answer within ${timeoutMs} ms (--timeout)`, { data: { timeoutMs, what } }),
        ),
      timeoutMs,
    )
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

export function requireDatabase(settings: Settings): string {
  if (settings.database !== undefined) return settings.database
  throw new InvalidArgumentError(
    'no database: give --database postgres://\u2026, set DATABASE_URL, or run pulse config save --database \u2026',
    { data: { option: '--database' } },
  )
}

export function requireRedis(settings: Settings): string {
  if (settings.redis !== undefined) return settings.redis
  throw new InvalidArgumentError(
    'no Redis: give --redis redis://\u2026, set REDIS_URL, or run pulse config save --redis \u2026',
    { data: { option: '--redis' } },
  )
}

/** Opens the job queue of `settings` (migrating its schema), within the timeout. */
export async function openQueue(
  settings: Settings,
  extra: Pick<JobQueueOptions, 'logger' | 'metrics'> = {},
): Promise<JobQueue> {
  const url = requireDatabase(settings)
  const opening = JobQueue.connect({
    pg: url,
    schema: settings.schema,
    actor: `cli:${cliUser()}`,
    transactionPooler: settings.transactionPooler,
    ...(settings.listenUrl === undefined ? {} : { listenUrl: settings.listenUrl }),
    ...extra,
  })
  try {
    return await within(opening, settings.timeoutMs, `PostgreSQL at ${redactUrl(url) ?? ''}`)
  } catch (error) {
    void opening.then((queue) => queue.destroy()).catch(() => undefined)
    throw error
  }
}

/**
 * Runs `fn` with the job queue of `flags`, and closes it whatever happens — or destroys it when `fn`
 * timed out, since a graceful close would wait for the query that never answered.
 */
export async function withQueue<T>(
  flags: ConnectionFlags,
  fn: (queue: JobQueue, settings: Settings) => Promise<T>,
): Promise<T> {
  const settings = await resolveSettings(flags)
  const queue = await openQueue(settings)
  try {
    const result = await fn(queue, settings)
    await queue.close()
    return result
  } catch (error) {
    await (isPulseError(error) && error.code === 'PULSE_ERR_TIMEOUT' ? queue.destroy(error) : queue.close()).catch(
      () => undefined,
    )
    throw error
  }
}

/** Who the audit log records for the CLI's actions: the operating system's user. */
export function cliUser(): string {
  return process.env.USER ?? process.env.LOGNAME ?? 'unknown'
}

/** `promise` within `--timeout`; a failed connection names the server it could not reach. */
export async function redisRequest<T>(promise: Promise<T>, settings: Settings, url: string): Promise<T> {
  const what = `Redis at ${redactUrl(url) ?? url}`
  try {
    return await within(promise, settings.timeoutMs, what)
  } catch (error) {
    if (error instanceof PulseError && error.code === 'PULSE_ERR_REDIS_CONNECTION') {
      throw new RedisConnectionError(`cannot reach ${what}: ${error.message}`, { cause: error })
    }
    throw error
  }
}
