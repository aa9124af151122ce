/**
 * Client-side topic filters: an exact topic, or a pattern searched in the topic (unanchored, as Go's
 * `regexp.MatchString`; `"my-*"` is a RegExp, not a glob). The exact topic wins when both are given,
 * as in v1.6.5. An event without a topic never matches a filter.
 */
import { InvalidArgumentError } from '../../runtime/errors.js'
import { checkString } from '../../runtime/options.js'

export type TopicFilter = (topic: string | undefined) => boolean

export function compileTopicFilter(topic: unknown, pattern: unknown): TopicFilter | undefined {
  if (topic !== undefined) {
    const exact = checkString(topic, 'options.topic')
    return (t) => t === exact
  }
  if (pattern === undefined) return undefined
  const regexp = toRegExp(pattern)
  return (t) => {
    if (t === undefined) return false
    regexp.lastIndex = 0
    return regexp.test(t)
  }
}

function toRegExp(pattern: unknown): RegExp {
  if (pattern instanceof RegExp) return pattern
  const source = checkString(pattern, 'options.topicPattern')
  try {
    return new RegExp(source)
  } catch (error) {
    throw new InvalidArgumentError(
      `options.topicPattern: topic pattern must be a valid regex: ${(error as Error).message}`,
      {
        cause: error,
        data: { option: 'options.topicPattern' },
      },
    )
  }
}
