/** `pulse-runtime/runtime`: the public surface of the actor kernel (re-exports only). */
export * from './errors.js'
export {
  abortable,
  anySignal,
  Closeable,
  CloseableEmitter,
  type CloseableOptions,
  Destroyable,
  DisposeStack,
  Lifecycle,
  type LifecycleOptions,
  type LifecycleState,
  onceAsync,
  sleep,
  throwIfAborted,
  withTimeout,
} from './lifecycle.js'
export { checkLogger, type Logger, SILENT_LOGGER } from './logger.js'
export { checkRegistry, type MetricsRegistry } from './metrics.js'
export { liveResources, type LiveResource, type ResourceKind } from './resource-tracker.js'
export {
  type ChildExit,
  type ChildSpec,
  type ChildStatus,
  type ExitCode,
  type InstanceState,
  ProcessSupervisor,
  type ProcessSupervisorEventMap,
  type ProcessSupervisorLogger,
  type ProcessSupervisorOptions,
} from './process-supervisor.js'
export { type ActorContext, type ActorDefinition, defineActor } from './actor.js'
export { ActorRef, type AskOptions } from './actor-ref.js'
export {
  DEFAULT_RUNTIME_OPTIONS,
  Runtime,
  type RuntimeEventMap,
  type RuntimeOptions,
  type SpawnOptions,
} from './runtime.js'
export type { ActorStats } from './stats.js'
export { DEFAULT_SUPERVISION_OPTIONS, type RestartPolicy, type SupervisionOptions } from './supervision.js'
export {
  DEFAULT_HANDLER_POOL_OPTIONS,
  HandlerPool,
  type HandlerPoolOptions,
  type HandlerPoolStats,
  type HandlerRef,
  type HandlerRunOptions,
} from './handler-pool.js'
