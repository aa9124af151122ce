/**
 * Live-resource accounting. Every thread, client and long-lived object the library opens is tracked
 * here until it is closed, so a test can fail when it leaves something open (node's own list of active
 * handles misses worker threads and unref'd timers). Cheap: one Map entry per open resource.
 */

export type ResourceKind = 'thread' | 'actor' | 'redis' | 'postgres' | 'process' | 'server' | 'other'

export interface LiveResource {
  readonly kind: ResourceKind
  readonly label: string
  readonly openedAt: number
}

const live = new Map<symbol, LiveResource>()

/** Records an open resource; the returned function (idempotent) records its close. */
export function trackResource(kind: ResourceKind, label: string): () => void {
  const key = Symbol(label)
  live.set(key, { kind, label, openedAt: Date.now() })
  return () => {
    live.delete(key)
  }
}

export function liveResources(): LiveResource[] {
  return [...live.values()]
}
