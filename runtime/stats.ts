/** Per-actor statistics as `rt.stats()` returns them. */
export interface ActorStats {
  readonly name: string
  readonly thread: string
  /** Messages sent to the actor and not yet handled. */
  readonly mailboxDepth: number
  readonly processed: number
  /** Messages that arrived while the actor was not running (crashed, restarting). */
  readonly dropped: number
  readonly restarts: number
  readonly state: 'running' | 'restarting' | 'stopped'
  /** Time spent in `receive`, sampled, in microseconds. */
  readonly latencyUs: { readonly p50: number; readonly p99: number; readonly p999: number }
}
