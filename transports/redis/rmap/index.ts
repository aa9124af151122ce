/** The Redis side of replicated maps: key layout, update frames, Lua scripts, the pub/sub connection. */
export { contentKey, kKindField, kRevField, updatesChannel } from './keys.js'
export type { StoredKind } from './keys.js'
export { decodeFrame, encodeFrame, parseRevision } from './frames.js'
export type { MapFrame } from './frames.js'
export { kMapScripts } from './scripts.js'
export type { MapScriptName } from './scripts.js'
export { MapSubscription } from './subscription.js'
export type { MapSubscriptionHandlers } from './subscription.js'
