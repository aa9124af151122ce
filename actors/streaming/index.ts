/**
 * `pulse-runtime/streaming`: streams, readers and sinks on Redis streams. The errors it raises are
 * part of the contract already.
 */
export { ClosedError, InvalidArgumentError, PulseError } from '../../runtime/errors.js'
