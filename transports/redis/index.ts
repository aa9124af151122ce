/**
 * The Redis transport: connections with typed errors, error classification, pipeline replies, Lua scripts
 * by SHA.
 */
export {
  createRedis,
  DEFAULT_REDIS_CLIENT_OPTIONS,
  isClusterClient,
  isRedisClient,
  PulseRedis,
  reconnectDelayMs,
  redisUrlOf,
} from './connection.js'
export type { RedisClientOptions, ResolvedRedisClientOptions } from './connection.js'
export { classifyRedisError, kReplyPolicies, mapRedisError, replyPolicy, replyPrefix } from './errors.js'
export type { RedisErrorClass, RedisErrorKind, ReplyPolicy } from './errors.js'
export { pipelineReplies } from './pipeline-replies.js'
export type { PipelineRepliesOptions, PipelineResults } from './pipeline-replies.js'
export { defineScript, sha1 } from './scripts.js'
export type { RedisScript, ScriptArg, ScriptDefinition, ScriptKey } from './scripts.js'
