/**
 * The actor contract: a module whose default export is `defineActor({ init, receive, stop })`.
 *
 * An actor processes one message at a time (run to completion, even when `receive` is async) and owns
 * its state: `init(args)` makes it, `receive(state, msg, ctx)` returns the next state, `stop(state)`
 * releases what it holds. A throw (or rejection) from `init` or `receive` is a crash: the actor's
 * pending asks reject with `ActorCrashedError` and the supervisor restarts it by its policy.
 */

export interface ActorContext {
  /** The name the actor was spawned with. */
  readonly name: string
  /** The thread the actor runs on. */
  readonly thread: string
  /** Aborted when the actor stops or crashes. */
  readonly signal: AbortSignal
  /** True when the current message is an ask (so `reply` goes somewhere). */
  readonly isAsk: boolean
  /**
   * Answers the current ask (once; later calls are ignored). An ask whose `receive` finishes without a
   * reply resolves with `undefined`. An `Error` value makes the ask reject with it, rebuilt as its class.
   */
  reply(value: unknown): void
  /**
   * Sends a message to the actor's listeners on the runtime's thread (`ref.onMessage`), in order. It
   * never blocks the actor: when the ring back is full the message waits in the thread. Throws
   * `InvalidArgumentError` for a message larger than `maxMessageBytes`.
   */
  emit(value: unknown): void
  /**
   * The largest encoded message `emit` (or `reply`) can carry: the mailbox ring's largest frame less
   * the envelope (`mailboxBytes` of the runtime). A larger reply fails its ask; a larger emit throws
   * `InvalidArgumentError` (nothing is sent).
   */
  readonly maxMessageBytes: number
}

export interface ActorDefinition<State = unknown, Msg = unknown, Args = unknown> {
  init(args: Args, ctx: ActorContext): State | Promise<State>
  receive(state: State, msg: Msg, ctx: ActorContext): State | Promise<State>
  stop?(state: State, ctx: ActorContext): void | Promise<void>
}

const kActorBrand = Symbol.for('pulse-runtime.actor')

/** Declares an actor; the module that holds it exports the result as its default export. */
export function defineActor<State, Msg = unknown, Args = unknown>(
  definition: ActorDefinition<State, Msg, Args>,
): ActorDefinition<State, Msg, Args> {
  return Object.assign(Object.create(null) as object, definition, { [kActorBrand]: true })
}

export function isActorDefinition(value: unknown): value is ActorDefinition {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[kActorBrand] === true &&
    typeof (value as ActorDefinition).init === 'function' &&
    typeof (value as ActorDefinition).receive === 'function'
  )
}
