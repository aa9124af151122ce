/** `pipelineReplies` on `[error, reply]` pairs built here, as ioredis resolves them from `exec()`. */
import { describe, expect, it } from 'vitest'

import { RedisCommandError, RedisConnectionError } from '../../../runtime/errors.js'
import { pipelineReplies, type PipelineResults } from '../../../transports/redis/pipeline-replies.js'

/** An error reply as ioredis raises it (its class is `ReplyError`; classification goes by the name). */
function replyError(message: string): Error {
  return Object.assign(new Error(message), { name: 'ReplyError' })
}

/** What `run` throws; fails the test when it returns. */
function thrownBy(run: () => unknown): unknown {
  try {
    run()
  } catch (error) {
    return error
  }
  throw new Error('did not throw')
}

const kWrongType = 'WRONGTYPE Operation against a key holding the wrong kind of value'

describe('pipelineReplies', () => {
  it('returns the replies in command order', () => {
    expect(pipelineReplies([])).toEqual([])
    expect(
      pipelineReplies([
        [null, '1-0'],
        [null, null],
        [null, ['a', 'b']],
      ]),
    ).toEqual(['1-0', null, ['a', 'b']])
  })

  it('throws the first error reply as RedisCommandError with its prefix, the raw error as cause', () => {
    const first = replyError(kWrongType)
    const results: PipelineResults = [
      [null, 1],
      [first, null],
      [replyError('ERR no such key'), null],
    ]
    const thrown = thrownBy(() => pipelineReplies(results))
    expect(thrown).toBeInstanceOf(RedisCommandError)
    expect(thrown).toMatchObject({
      code: 'PULSE_ERR_REDIS_COMMAND',
      message: kWrongType,
      data: { reply: 'WRONGTYPE', retryable: false },
      cause: first,
    })
  })

  it('throws an error mapped already (a PulseRedis pair) as it is', () => {
    const mapped = new RedisCommandError('LOADING Redis is loading the dataset in memory', {
      data: { reply: 'LOADING', retryable: true, command: 'xadd' },
    })
    expect(() => pipelineReplies([[mapped, null]])).toThrow(mapped)
  })

  it('maps a lost connection to RedisConnectionError', () => {
    expect(() => pipelineReplies([[new Error('Connection is closed.'), null]])).toThrow(RedisConnectionError)
  })

  it('treats null (EXEC replied nil: an aborted transaction) as an error', () => {
    const thrown = thrownBy(() => pipelineReplies(null))
    expect(thrown).toBeInstanceOf(RedisCommandError)
    expect(thrown).toMatchObject({ data: { reply: 'EXECABORT', retryable: false, command: 'exec' } })
  })

  it('reads an error reply listed in `missing` as undefined, and still throws the others', () => {
    const nogroup = replyError("NOGROUP No such consumer group 'k' for key name 's'")
    expect(
      pipelineReplies(
        [
          [null, []],
          [nogroup, null],
        ],
        { missing: ['NOGROUP'] },
      ),
    ).toEqual([[], undefined])
    expect(() => pipelineReplies([[nogroup, null]])).toThrow(RedisCommandError)
    expect(() => pipelineReplies([[replyError(kWrongType), null]], { missing: ['NOGROUP'] })).toThrow(kWrongType)
    // Only an error reply has a prefix: a lost connection is never "missing".
    expect(() => pipelineReplies([[new Error('Connection is closed.'), null]], { missing: ['Connection'] })).toThrow(
      RedisConnectionError,
    )
  })
})
