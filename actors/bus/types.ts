/** The shapes of the bus's calls: what `put`, `request`, `reply` and `get` take and give. */
import type { Payload } from './record.js'
import type { BusEvent } from './subscription.js'

export interface PutOptions {
  /** The event id; a new `e_…` by default. */
  id?: string
  /** Dedup key: a second put with the same key on the same subject within `dedupTtlMs` rejects with `DuplicateEventError`. */
  key?: string
  traceId?: string
  /** Resolve only once this many distinct consumers acked the event. */
  confirm?: number
  /** Deadline of a confirm. @default the bus's confirmTimeoutMs */
  timeoutMs?: number
  signal?: AbortSignal
  /** The reply inbox (`_bus_.…`), for callers that run their own request/reply. */
  responseSubject?: string
  /** Publish only when some live subscription matches the subject, else reject with `NoResponderError`. */
  requireSubscriber?: boolean
  /** An RFC 3339 creation time to keep (the reference's `WithCreatedAt`); now by default. */
  createdAt?: string
}

export interface BatchItem {
  subject: string
  payload?: Payload
  id?: string
  key?: string
  traceId?: string
}

export interface PutResult {
  readonly id: string
  /** The event's position in its namespace (0, 1, …); -1 for an inbox publish. */
  readonly index: number
  readonly createdAt: Date
  /** The RFC 3339 text of `createdAt`, as stored. */
  readonly createdAtText: string
}

export interface RequestOptions {
  /** @default the bus's requestTimeoutMs */
  timeoutMs?: number
  signal?: AbortSignal
  key?: string
  traceId?: string
}

export interface ReplyOptions {
  /** Requests handled at once. @default 16 */
  concurrency?: number
}

export type ReplyHandler = (request: BusEvent) => Payload | undefined | Promise<Payload | undefined>

export interface ReplyHandle {
  /** Resolves once the responder listens. */
  readonly ready: Promise<void>
  close(): Promise<void>
}

/** An iterator of bus events: a stream subscription or an inbox subscription. */
export interface Subscription extends AsyncIterableIterator<BusEvent> {
  readonly consumerId: string
  readonly pattern: string
  readonly ready: Promise<void>
  readonly closed: boolean
  /** Acks by event id (the HTTP API's PUT); false when the event is not in flight / not recent. */
  ackById(eventId: string): Promise<boolean>
  return(): Promise<IteratorResult<BusEvent>>
}
