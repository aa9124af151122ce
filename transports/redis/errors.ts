/**
 * What a Redis failure means, decided by tables rather than `if` chains: a new case is a new row.
 *
 * Three kinds of failure reach a caller of ioredis:
 * - `reply`: the server answered with an error reply (`ReplyError`). Its first word is the reply
 *   prefix (`WRONGTYPE`, `LOADING`, …), which `kReplyPolicies` maps to a policy.
 * - `connection`: the connection is down or was lost while the command was pending
 *   (`MaxRetriesPerRequestError`, `Connection is closed.`, socket errors such as `ECONNREFUSED`). The
 *   command may or may not have run; a retry (of an idempotent command) can help.
 * - `other`: anything else (a usage error such as a command in subscriber mode, a bug).
 *
 * `mapRedisError` turns the first two into the library's typed errors, keeping the original message
 * (ioredis itself matches on messages such as `NOSCRIPT`) and the original error as `cause`:
 * `RedisCommandError` with `data: { reply, retryable }`, and `RedisConnectionError`.
 */
import { coerceError, PulseError, RedisCommandError, RedisConnectionError } from '../../runtime/errors.js'
import { SOCKET_ERROR_CODES } from '../../runtime/socket-errors.js'

/**
 * - `retryable`: a transient server state (loading, busy script, failover, cluster reshard); the same
 *   command can succeed later.
 * - `fatal`: the command or the data is wrong, or access is denied; retrying the same command fails again.
 * - `noscript`: EVALSHA of a script the server does not hold. `scripts.ts` loads it and runs it again;
 *   a blind retry of the same EVALSHA would fail again, so it is not retryable for other callers.
 */
export type ReplyPolicy = 'retryable' | 'fatal' | 'noscript'

/** Error reply prefixes (the first word of the reply) and what they mean. Unknown prefixes are fatal. */
export const kReplyPolicies: ReadonlyMap<string, ReplyPolicy> = new Map<string, ReplyPolicy>([
  // The server is not able to answer now.
  ['LOADING', 'retryable'], // loading the dataset into memory after a restart
  ['BUSY', 'retryable'], // a script or function is running past its time limit
  ['TRYAGAIN', 'retryable'], // multi-key command during a slot migration
  ['CLUSTERDOWN', 'retryable'],
  ['MASTERDOWN', 'retryable'], // replica lost its master (replica-serve-stale-data no)
  ['READONLY', 'retryable'], // wrote to a replica: a failover is under way
  ['NOREPLICAS', 'retryable'], // min-replicas-to-write not met
  ['MOVED', 'retryable'], // cluster redirection
  ['ASK', 'retryable'],
  // Scripts.
  ['NOSCRIPT', 'noscript'],
  // The command, the data or the credentials are wrong.
  ['ERR', 'fatal'],
  ['WRONGTYPE', 'fatal'],
  ['NOAUTH', 'fatal'],
  ['WRONGPASS', 'fatal'],
  ['NOPERM', 'fatal'],
  ['OOM', 'fatal'], // maxmemory reached with a noeviction policy: needs an operator
  ['EXECABORT', 'fatal'],
  ['BUSYGROUP', 'fatal'], // XGROUP CREATE of an existing group
  ['NOGROUP', 'fatal'],
  ['BUSYKEY', 'fatal'],
  ['CROSSSLOT', 'fatal'],
  ['NOPROTO', 'fatal'],
  ['UNBLOCKED', 'fatal'],
  ['MISCONF', 'fatal'],
])

/** Names of ioredis / redis-errors classes that mean "the connection failed". */
const kConnectionErrorNames: ReadonlySet<string> = new Set([
  'MaxRetriesPerRequestError', // the command waited through `maxRetriesPerRequest` reconnects
  'AbortError', // 'Command aborted due to connection close' (pipeline or transaction fragment)
  'InterruptError',
])

/** Error codes that mean "the connection failed": node's socket and DNS codes, and stream ends. */
const kConnectionErrorCodes: ReadonlySet<string> = new Set([
  ...SOCKET_ERROR_CODES,
  'ERR_SOCKET_CLOSED',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_WRITE_AFTER_END',
])

/** Messages (prefixes) of plain `Error`s that ioredis raises when the connection fails. */
const kConnectionErrorMessages: readonly string[] = [
  'Connection is closed.',
  "Stream isn't writeable", // enableOfflineQueue: false while disconnected
  'Command timed out', // the `commandTimeout` option
  'Socket timeout', // the `socketTimeout` option
  'connect ETIMEDOUT',
  'Ready check failed',
]

export type RedisErrorKind = 'connection' | 'reply' | 'other'

export interface RedisErrorClass {
  readonly retryable: boolean
  readonly kind: RedisErrorKind
  /** The reply prefix, for `kind: 'reply'`: `'WRONGTYPE'`, `'LOADING'`, … */
  readonly reply?: string
}

/** The first word of an error reply: `'WRONGTYPE'` for `WRONGTYPE Operation against a key …`. */
export function replyPrefix(message: string): string {
  const space = message.indexOf(' ')
  return space === -1 ? message : message.slice(0, space)
}

export function replyPolicy(prefix: string): ReplyPolicy {
  return kReplyPolicies.get(prefix) ?? 'fatal'
}

function isReplyError(err: Error): boolean {
  return err.name === 'ReplyError'
}

function isConnectionError(err: Error): boolean {
  const code = (err as { code?: unknown }).code
  return (
    kConnectionErrorNames.has(err.name) ||
    (typeof code === 'string' && kConnectionErrorCodes.has(code)) ||
    kConnectionErrorMessages.some((prefix) => err.message.startsWith(prefix))
  )
}

/**
 * Classifies a raw ioredis error, or one already mapped by `mapRedisError`. Never throws.
 */
export function classifyRedisError(err: unknown): RedisErrorClass {
  if (err instanceof PulseError) {
    switch (err.code) {
      case 'PULSE_ERR_REDIS_CONNECTION':
        return { retryable: true, kind: 'connection' }
      case 'PULSE_ERR_REDIS_COMMAND': {
        const reply = err.data?.reply
        const retryable = err.data?.retryable
        return {
          retryable: retryable === true,
          kind: 'reply',
          ...(typeof reply === 'string' ? { reply } : {}),
        }
      }
      default:
        return { retryable: false, kind: 'other' }
    }
  }
  if (!(err instanceof Error)) return { retryable: false, kind: 'other' }
  if (isReplyError(err)) {
    const reply = replyPrefix(err.message)
    return { retryable: replyPolicy(reply) === 'retryable', kind: 'reply', reply }
  }
  if (isConnectionError(err)) return { retryable: true, kind: 'connection' }
  return { retryable: false, kind: 'other' }
}

/**
 * Turns a raw ioredis error into `RedisCommandError` (error reply) or `RedisConnectionError`
 * (connection failure), with the original message and the original error as `cause`. `PulseError`s
 * are returned as they are; anything else is coerced to an `Error` and returned unchanged. Never throws.
 * `command` (the command name) is added to `data` when given.
 */
export function mapRedisError(err: unknown, command?: string): Error {
  if (err instanceof PulseError) return err
  const error = coerceError(err)
  const cls = classifyRedisError(error)
  const where = command === undefined ? {} : { command }
  switch (cls.kind) {
    case 'reply':
      return new RedisCommandError(error.message, {
        cause: error,
        data: { reply: cls.reply ?? 'ERR', retryable: cls.retryable, ...where },
      })
    case 'connection':
      return new RedisConnectionError(error.message, {
        cause: error,
        ...(command === undefined ? {} : { data: where }),
      })
    case 'other':
      return error
  }
}
