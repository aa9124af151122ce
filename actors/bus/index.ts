/**
 * `pulse-runtime/bus`: subjects with wildcards, request/reply and confirmations over HTTP + SSE. The
 * errors of its contract are exported here and from the root entry.
 */
export { ClosedError, InvalidArgumentError, NoResponderError, PulseError } from '../../runtime/errors.js'
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
