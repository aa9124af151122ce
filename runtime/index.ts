/** `pulse-runtime/runtime`: the public surface of the actor kernel (re-exports only). */
export * from './errors.js'
export { abortable, anySignal, DisposeStack, Lifecycle, type LifecycleOptions, type LifecycleState, onceAsync, sleep, throwIfAborted, withTimeout } from './lifecycle.js'
export { liveResources, type LiveResource, type ResourceKind } from './resource-tracker.js'
export { type ChildExit, type ChildSpec, type ChildStatus, type ExitCode, type InstanceState, ProcessSupervisor, type ProcessSupervisorEventMap, type ProcessSupervisorLogger, type ProcessSupervisorOptions, type RestartPolicy } from './process-supervisor.js'
