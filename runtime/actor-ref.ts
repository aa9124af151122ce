/**
 * A handle on a spawned actor. It stays valid across restarts: it always addresses the actor's
 * current incarnation, wherever the supervisor put it.
 */
import type { ActorStats } from './stats.js'

export interface AskOptions {
  /** @default 30_000 */
  timeoutMs?: number
  signal?: AbortSignal
}

/** What an `ActorRef` needs from the runtime (kept narrow so refs hold no runtime internals). */
export interface ActorRefTarget {
  tell(name: string, msg: unknown): boolean
  tellMany(name: string, msgs: readonly unknown[]): number
  ask(name: string, msg: unknown, options: AskOptions): Promise<unknown>
  threadCall(name: string, call: 'drain' | 'pause' | 'resume'): Promise<void>
  stopActor(name: string): Promise<void>
  onMessage(name: string, listener: (msg: unknown) => void): () => void
  actorStats(name: string): Promise<ActorStats | undefined>
}

export class ActorRef<Msg = unknown, Reply = unknown, Out = unknown> {
  readonly name: string
  readonly #target: ActorRefTarget

  constructor(target: ActorRefTarget, name: string) {
    this.#target = target
    this.name = name
  }

  /**
   * Sends a message that wants no answer. Returns false when the mailbox cannot take it right now
   * (full, or the actor is restarting): backpressure, nothing is queued. Throws
   * `PULSE_ERR_INVALID_ARG` for a message larger than the mailbox, and `ClosedError` after close.
   */
  tell(msg: Msg): boolean {
    return this.#target.tell(this.name, msg)
  }

  /** Sends messages in order with one wake-up; returns how many were taken (a prefix of `msgs`). */
  tellMany(msgs: readonly Msg[]): number {
    return this.#target.tellMany(this.name, msgs)
  }

  /** Sends a message and resolves with the actor's reply; waits for mailbox space within the timeout. */
  ask(msg: Msg, options: AskOptions = {}): Promise<Reply> {
    return this.#target.ask(this.name, msg, options) as Promise<Reply>
  }

  /**
   * Listens to what the actor sends with `ctx.emit(value)`, in order, on the runtime's thread. Returns
   * the function that stops listening. A listener that throws is reported as the runtime's 'error'.
   */
  onMessage(listener: (msg: Out) => void): () => void {
    return this.#target.onMessage(this.name, listener as (msg: unknown) => void)
  }

  /** Resolves when every message sent to this actor's thread so far has been handled. */
  drain(): Promise<void> {
    return this.#target.threadCall(this.name, 'drain')
  }

  /** Stops (and resumes) reading this actor's thread mailbox; co-located actors pause with it. */
  pause(): Promise<void> {
    return this.#target.threadCall(this.name, 'pause')
  }

  resume(): Promise<void> {
    return this.#target.threadCall(this.name, 'resume')
  }

  /** Stops this actor for good (`Runtime.stopActor`). */
  stop(): Promise<void> {
    return this.#target.stopActor(this.name)
  }

  stats(): Promise<ActorStats | undefined> {
    return this.#target.actorStats(this.name)
  }
}
