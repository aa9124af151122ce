/**
 * `pulse-runtime/rmap`: replicated maps on Redis (see the README's rmap section). The map itself lands
 * with its issue; the errors it raises are part of the contract already.
 */
export { ClosedError, InvalidArgumentError, PulseError } from '../../runtime/errors.js'
