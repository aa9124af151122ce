/**
 * The replies of an ioredis pipeline or MULTI, or its failure as a typed error.
 *
 * `pipeline().exec()` and `multi().exec()` resolve an `[error, reply]` pair per command, or `null` when
 * EXEC answered nil (a WATCHed key changed: none of the transaction's commands ran). `pipelineReplies`
 * turns the pairs into the replies in command order, or throws:
 * - for the first pair with an error, that error through `mapRedisError` (`RedisCommandError` for an
 *   error reply, `RedisConnectionError` for a lost connection; the pairs of a `PulseRedis` client arrive
 *   mapped already and are thrown as they are);
 * - for `null`, a `RedisCommandError` with `data.reply: 'EXECABORT'`.
 * An error reply whose prefix is listed in `missing` is not a failure: that command's reply is
 * `undefined` (XINFO CONSUMERS of a group deleted meanwhile answers NOGROUP).
 */
import { RedisCommandError } from '../../runtime/errors.js'
import { classifyRedisError, mapRedisError, replyPolicy } from './errors.js'

/** What `exec()` of an ioredis pipeline or MULTI resolves. */
export type PipelineResults = readonly (readonly [error: Error | null, reply: unknown])[] | null

export interface PipelineRepliesOptions {
  /** Error reply prefixes (`'NOGROUP'`, …) that stand for "not there": the command's reply is `undefined`. */
  readonly missing?: readonly string[]
}

/** The replies in command order; throws the first error, typed (see the module header). */
export function pipelineReplies(results: PipelineResults, options: PipelineRepliesOptions = {}): unknown[] {
  if (results === null) throw abortedTransaction()
  const missing = options.missing ?? []
  return results.map(([error, reply]) => {
    if (error === null) return reply
    const mapped = mapRedisError(error)
    const prefix = classifyRedisError(mapped).reply
    if (prefix !== undefined && missing.includes(prefix)) return undefined
    throw mapped
  })
}

function abortedTransaction(): Error {
  return new RedisCommandError('EXECABORT Transaction aborted: EXEC replied nil (a watched key changed)', {
    data: { reply: 'EXECABORT', retryable: replyPolicy('EXECABORT') === 'retryable', command: 'exec' },
  })
}
