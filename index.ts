/**
 * `pulse-runtime`: the composition root, the only module that re-exports every layer. Each feature
 * also has its own entry (`pulse-runtime/runtime`, `/rmap`, `/streaming`, `/pool`, `/jobs`, `/bus`).
 */
export * from './actors/runtime/index.js'
export * from './actors/jobs/index.js'
export * from './actors/rmap/index.js'
export * from './actors/streaming/index.js'
export * from './actors/pool/index.js'
export * from './actors/bus/index.js'
