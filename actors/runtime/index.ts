/**
 * `pulse-runtime/runtime`: the actor kernel's public surface, with `Runtime` as the composed runtime
 * (runtime.ts: the kernel that also owns every feature).
 */
export * from '../../runtime/index.js'
export { Runtime, type RuntimeBusOptions, type RuntimeBusServerOptions } from './runtime.js'
export type {
  RuntimeFeatureStats,
  RuntimeMapOptions,
  RuntimePoolOptions,
  RuntimeStats,
  RuntimeStreamOptions,
} from './runtime.js'
export type { RuntimeJobsOptions, RuntimeOptions } from './options.js'
export type { KeyLayout } from '../../transports/redis/key-layout.js'
