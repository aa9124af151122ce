/**
 * A subscription to an inbox subject (`_bus_.…`): what is published to the inbox while subscribed, over
 * pub/sub (inboxes are never persisted); `start` and `ack` do not apply. It holds at most `kInboxQueue`
 * unread events and drops (with a warning) what comes past that.
 */
import { coerceError } from '../../runtime/errors.js'
import type { Logger } from '../../runtime/logger.js'
import type { InboxConnection } from '../../transports/redis/bus/inbox.js'
import { xid } from './ids.js'
import { parseRecord } from './record.js'
import { type BusEvent, recordEvent } from './subscription.js'
import type { Subscription } from './types.js'

const kInboxQueue = 256

/** `get('_bus_.x')`: what is published to the inbox while subscribed; `start` and `ack` do not apply. */
export class InboxSubscription implements Subscription {
  readonly consumerId = `c_${xid()}`
  readonly pattern: string
  readonly ready: Promise<void>
  #queue: BusEvent[] = []
  #wake: (() => void) | undefined
  #closed = false
  #stop: (() => Promise<void>) | undefined
  #error: Error | undefined
  readonly #onClose: (sub: InboxSubscription) => void

  constructor(
    inboxes: InboxConnection,
    channel: string,
    subject: string,
    logger: Logger,
    onClose: (sub: InboxSubscription) => void,
  ) {
    this.pattern = subject
    this.#onClose = onClose
    this.ready = inboxes
      .subscribe(channel, (message) => {
        if (this.#queue.length >= kInboxQueue) {
          logger.warn({ inbox: subject }, 'pulse bus: inbox subscriber is full, dropping a message')
          return
        }
        try {
          const record = parseRecord(message.toString('utf8'))
          this.#queue.push(inboxEvent(record, message.toString('utf8'), this.consumerId))
          const wake = this.#wake
          this.#wake = undefined
          wake?.()
        } catch (error) {
          logger.warn({ err: error, inbox: subject }, 'pulse bus: malformed inbox message')
        }
      })
      .then(
        (stop) => {
          this.#stop = stop
          if (this.#closed) void stop()
        },
        (error: unknown) => {
          this.#error = coerceError(error)
        },
      )
  }

  get closed(): boolean {
    return this.#closed
  }

  async next(): Promise<IteratorResult<BusEvent>> {
    await this.ready
    if (this.#error !== undefined) throw this.#error
    for (;;) {
      if (this.#closed) return { done: true, value: undefined }
      const event = this.#queue.shift()
      if (event !== undefined) return { done: false, value: event }
      await new Promise<void>((resolve) => (this.#wake = resolve))
    }
  }

  ackById(): Promise<boolean> {
    return Promise.resolve(false)
  }

  async return(): Promise<IteratorResult<BusEvent>> {
    if (!this.#closed) {
      this.#closed = true
      this.#queue = []
      const wake = this.#wake
      this.#wake = undefined
      wake?.()
      this.#onClose(this)
      await this.#stop?.()
    }
    return { done: true, value: undefined }
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}

function inboxEvent(record: ReturnType<typeof parseRecord>, text: string, consumerId: string): BusEvent {
  return recordEvent(record, text, consumerId, () => Promise.resolve())
}
