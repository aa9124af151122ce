/**
 * What the runtime (main side) and an actor thread say to each other besides mailbox frames.
 *
 * Start-up: the runtime creates the thread's two rings and two doorbells and hands them over once in
 * `workerData` (`ThreadBoot`), with a MessagePort for the control plane. Control-plane calls go
 * through comlink on that port (`ThreadControl`); they answer with `ControlResult` records because
 * comlink would flatten a thrown error's class and code.
 */
import type { MessagePort } from 'node:worker_threads'

import type { WireError } from './errors.js'

export interface ThreadBoot {
  readonly thread: string
  /** Ring the runtime writes (tells and asks) and the thread reads. */
  readonly inbound: SharedArrayBuffer
  /** Ring the thread writes (replies, failures, crash reports) and the runtime reads. */
  readonly outbound: SharedArrayBuffer
  /** Doorbell the thread sleeps on. */
  readonly threadBell: SharedArrayBuffer
  /** Doorbell the runtime sleeps on (shared by every thread's outbound ring). */
  readonly runtimeBell: SharedArrayBuffer
  readonly control: MessagePort
  /** Time one message in this many for the latency histogram. */
  readonly latencySampleEvery: number
  /** Microseconds the thread polls its empty mailbox before it sleeps on its doorbell. */
  readonly spinUs: number
}

export type ControlResult<T = undefined> = { ok: true; value: T } | { ok: false; error: WireError }

export interface SlotStats {
  readonly slot: number
  readonly processed: number
  readonly dropped: number
  readonly latencyUs: { readonly p50: number; readonly p99: number; readonly p999: number }
}

export interface ThreadControl {
  /** Loads the actor module and runs `init(args)` in `slot`. */
  spawn(slot: number, moduleUrl: string, name: string, args: unknown): Promise<ControlResult>
  /** Runs `init` again for a crashed actor, with its original args. */
  restart(slot: number): Promise<ControlResult>
  /** Stops one actor (its `stop`), after the frames already in the mailbox are handled. */
  stopActor(slot: number): Promise<ControlResult>
  /** Resolves when every frame written so far has been handled. */
  drain(): Promise<ControlResult>
  /** Drains, then stops every actor in reverse spawn order. */
  shutdown(): Promise<ControlResult>
  /** Stops or resumes reading the thread's mailbox (producers then see backpressure). */
  pause(): Promise<ControlResult>
  resume(): Promise<ControlResult>
  stats(): Promise<ControlResult<SlotStats[]>>
}
