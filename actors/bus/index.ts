/**
 * `pulse-runtime/bus`: subjects with wildcards, request/reply and confirmations over Redis streams, and
 * the HTTP + SSE API of ella.to/bus v0.6 (`BusServer`, `BusClient`). The errors of its contract are
 * exported here and from the root entry.
 */
export {
  ClosedError,
  DuplicateEventError,
  InvalidArgumentError,
  NoResponderError,
  PulseError,
  SlowConsumerError,
  TimeoutError,
} from '../../runtime/errors.js'
export {
  checkPattern,
  checkSubject,
  compilePattern,
  hasWildcard,
  kInboxNamespace,
  matchSubject,
  namespaceOf,
  patternError,
  SubjectIndex,
  subjectError,
  subjectTokens,
} from './subject.js'
export { Bus } from './bus.js'
export type {
  BatchItem,
  PutOptions,
  PutResult,
  ReplyHandle,
  ReplyHandler,
  ReplyOptions,
  RequestOptions,
  Subscription,
} from './types.js'
export type { BusEvent } from './subscription.js'
export { DEFAULT_BUS_OPTIONS, DEFAULT_GET_OPTIONS } from './options.js'
export type { AckMode, BusOptions, GetOptions, RedeliveryOptions } from './options.js'
export type { Payload } from './record.js'
export { BUS_ERROR_STATUS, BusApi, BusServer, DEFAULT_BUS_CORS } from './server.js'
export type { BusServerLimits, BusServerOptions } from './server.js'
export { BusClient, SseParser } from './client.js'
export type { BusClientOptions } from './client.js'
