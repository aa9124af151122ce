/**
 * `BusServer`: the HTTP API of ella.to/bus v0.6.4 (docs/bus-http-api.md) over a `Bus`, on `transports/http`; its
 * routes are `BusApi`, which other servers mount too (`pulse server`).
 *
 * | request                                            | answer                                                       |
 * |----------------------------------------------------|--------------------------------------------------------------|
 * | `POST /` an event object                           | 202, `X-BUS-EVENT-ID`, `-CREATED-AT`, `-INDEX`; empty body   |
 * | `POST /` an array of events (one namespace)        | 202, no X-BUS headers; all or nothing                         |
 * | `GET /?subject=&start=&ack=&redelivery=&redelivery_count=` | 200 SSE, `X-BUS-CONSUMER-ID: c_…`; `id:`/`event: msg`/`data: <record>` |
 * | `PUT /?consumer_id=c_…&event_id=e_…`               | 202 (unknown pairs too)                                      |
 * | `OPTIONS` any path                                 | 204 with the CORS headers                                     |
 *
 * Any path is routed by method, as the reference does. `Last-Event-ID: e_…` overrides `start`. Idle
 * streams get `: ping` every `pingIntervalMs` (30 s). Errors are the reference's plain-text bodies
 * (`subject is required\n`) unless the client asks for JSON (`Accept: application/json`, as `BusClient`
 * does), which gets the house error body that `errorFromBody` turns back into the error's class.
 *
 * Beyond the reference: Basic auth (401), TLS, body limit (413), a duplicate key is 409 across restarts,
 * an unknown namespace is 400 on POST too (the reference answers 500), an id that the answer's header or
 * an SSE line could not carry and text with a lone surrogate are 400 (nothing published; an event
 * already stored with such an id streams without its `id:` line), `durable=<name>` on GET, and
 * `X-BUS-REQUIRE-SUBSCRIBER: 1` on POST (503 `PULSE_ERR_BUS_NO_RESPONDER` when no live subscription
 * matches, nothing published) for fast no-responder requests.
 *
 * Slow SSE clients: the loop stops feeding a stream when the next frame would take what waits for its
 * client past `maxBufferedBytes`, and waits for the client to take some; past `stallTimeoutMs` the stream ends with `event: error` (`PULSE_ERR_HTTP_SLOW_CONSUMER`). Nothing
 * queues meanwhile: the subscription stops taking events and reads them from Redis later, so memory
 * per client stays bounded. Acks are routed to the subscription by consumer id, on this server: behind
 * a load balancer, a client's PUTs must reach the server holding its stream (sticky sessions).
 */
import type { IncomingMessage } from 'node:http'

import { InvalidArgumentError, isPulseError, ProtocolError, SlowConsumerError } from '../../runtime/errors.js'
import { Closeable, sleep } from '../../runtime/lifecycle.js'
import type { Logger } from '../../runtime/logger.js'
import { checkDurationMs, checkInteger, checkKnownKeys, kMaxTimerMs } from '../../runtime/options.js'
import type {
  BasicAuthOptions,
  CorsOptions,
  ErrorStatusTable,
  HttpContext,
  SseStream,
  TlsOptions,
} from '../../transports/http/index.js'
import { httpStatusOf, HttpServer, Router } from '../../transports/http/index.js'
import type { Bus } from './bus.js'
import type { Subscription } from './types.js'
import { checkEventId, kWireSafeId } from './ids.js'
import { busMetrics } from './metrics.js'
import { parseGoDuration, parsePublishBody, type WireEvent } from './record.js'

export const kBusHeaders = [
  'X-BUS-EVENT-ID',
  'X-BUS-EVENT-CREATED-AT',
  'X-BUS-EVENT-INDEX',
  'X-BUS-CONSUMER-ID',
] as const

/** The reference's CORS headers (plus what auth and resume need). */
export const DEFAULT_BUS_CORS: CorsOptions = {
  origins: '*',
  methods: ['GET', 'POST', 'PUT', 'OPTIONS'],
  allowHeaders: ['Content-Type', ...kBusHeaders, 'Authorization', 'Last-Event-ID'],
  exposeHeaders: [...kBusHeaders],
}

export const BUS_ERROR_STATUS: ErrorStatusTable = {
  PULSE_ERR_BUS_DUPLICATE: 409,
  PULSE_ERR_BUS_NO_RESPONDER: 503,
}

export interface BusServerLimits {
  /** Largest POST body. @default 1048576 */
  maxBodyBytes?: number
  /** Bytes that may wait for one SSE client. @default 1048576 */
  maxBufferedBytes?: number
  /** How long a stream may wait for its client to drain before it is dropped. @default 10000 */
  stallTimeoutMs?: number
  /** Idle time before `: ping`. @default 30000 */
  pingIntervalMs?: number
}

export interface BusServerOptions {
  bus: Bus
  /** @default 2021 (0 picks a free port) */
  port?: number
  /** @default '127.0.0.1' */
  host?: string
  /** Basic auth: `{ users }` as a `PULSE_AUTH_USERS` string or `{ user: plaintext | bcrypt }`. */
  auth?: BasicAuthOptions
  tls?: TlsOptions
  /** @default the reference's CORS headers (`DEFAULT_BUS_CORS`); false for none */
  cors?: boolean | CorsOptions
  limits?: BusServerLimits
  closeTimeoutMs?: number
  logger?: Logger
}

const kDefaultLimits = {
  maxBodyBytes: 1024 * 1024,
  maxBufferedBytes: 1024 * 1024,
  stallTimeoutMs: 10_000,
  pingIntervalMs: 30_000,
}

function wantsJson(req: IncomingMessage): boolean {
  return (req.headers.accept ?? '').includes('application/json')
}

/**
 * The bus's routes, to mount on any `Router` (`BusServer` mounts them on its own server; `pulse server`
 * mounts them at `/` beside the jobs API). Every path the router does not route elsewhere is the bus's:
 * mount it last.
 */
export class BusApi {
  readonly bus: Bus
  readonly #consumers = new Map<string, Subscription>()
  readonly #limits: Required<BusServerLimits>
  /** `pulse_bus_sse_clients`, with the bus's `metrics`. */
  readonly #sseClients: { inc(): void; dec(): void } | undefined

  constructor(bus: Bus, limits: BusServerLimits = {}) {
    if (typeof bus?.get !== 'function')
      throw new InvalidArgumentError('options.bus must be a Bus', { data: { option: 'options.bus' } })
    this.bus = bus
    this.#limits = resolveLimits(limits)
    const { metrics } = bus.options
    this.#sseClients = metrics === undefined ? undefined : busMetrics(metrics).sseClients
  }

  /** The resolved limits (the server's body limit and SSE options come from them). */
  get limits(): Required<BusServerLimits> {
    return this.#limits
  }

  /** Adds the bus's routes: POST, GET, PUT and OPTIONS on every path. */
  mount(router: Router): void {
    const guard = (fn: (ctx: HttpContext) => Promise<void>) => (ctx: HttpContext) =>
      fn(ctx).catch((error: unknown) => this.#answerError(ctx, error))
    router.on(
      'POST',
      '*',
      guard((ctx) => this.#publish(ctx)),
    )
    router.on(
      'GET',
      '*',
      guard((ctx) => this.#subscribe(ctx)),
    )
    router.on(
      'PUT',
      '*',
      guard((ctx) => this.#ack(ctx)),
    )
    router.on('OPTIONS', '*', (ctx) => ctx.send(204))
  }

  /** Plain text (the reference's `http.Error`) unless the client asked for JSON or the body is unread. */
  #answerError(ctx: HttpContext, error: unknown): void {
    if (ctx.res.headersSent || wantsJson(ctx.req) || !ctx.req.complete) throw error
    const reason = isPulseError(error) && typeof error.data?.reason === 'string' ? error.data.reason : undefined
    const text = `${reason ?? (isPulseError(error) ? error.message : 'internal error')}\n`
    ctx.send(httpStatusOf(error, BUS_ERROR_STATUS), text, {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
    })
  }

  async #publish(ctx: HttpContext): Promise<void> {
    const { batch, events } = parsePublishBody(await ctx.readBody())
    for (const event of events) checkWireEvent(event)
    if (batch) {
      if (events.length === 0) throw new ProtocolError('empty batch')
      if (events.some((event) => event.responseSubject !== undefined))
        throw new InvalidArgumentError('batch items cannot have response_subject')
      await this.bus.put(
        events.map((event) => ({
          subject: event.subject === '' ? failRequired() : event.subject,
          ...(event.payload.length > 0 ? { payload: event.payload } : {}),
          ...(event.id === undefined ? {} : { id: event.id }),
          ...(event.key === undefined ? {} : { key: event.key }),
          ...(event.traceId === undefined ? {} : { traceId: event.traceId }),
        })),
      )
      ctx.send(202)
      return
    }
    const event = events[0]
    if (event === undefined || event.subject === '') failRequired()
    if (event.responseSubject !== undefined && /[*>]/.test(event.responseSubject))
      throw new InvalidArgumentError('response subject should not have * or >', {
        data: { reason: 'subject should not have * or >' },
      })
    const result = await this.bus.put(event.subject, event.payload.length > 0 ? event.payload : undefined, {
      ...(event.id === undefined ? {} : { id: event.id }),
      ...(event.key === undefined ? {} : { key: event.key }),
      ...(event.traceId === undefined ? {} : { traceId: event.traceId }),
      ...(event.responseSubject === undefined ? {} : { responseSubject: event.responseSubject }),
      ...(event.createdAt === undefined ? {} : { createdAt: event.createdAt }),
      ...(ctx.req.headers['x-bus-require-subscriber'] === '1' ? { requireSubscriber: true } : {}),
    })
    ctx.send(202, undefined, {
      'X-BUS-EVENT-ID': result.id,
      'X-BUS-EVENT-CREATED-AT': result.createdAtText,
      'X-BUS-EVENT-INDEX': String(result.index),
    })
  }

  async #subscribe(ctx: HttpContext): Promise<void> {
    const q = ctx.query
    const subject = q.get('subject') ?? ''
    if (subject === '') throw new InvalidArgumentError('missing subject in query string')
    const last = ctx.req.headers['last-event-id']
    const lastEventId = typeof last === 'string' && last.trim().startsWith('e_') ? last.trim() : undefined
    const start = lastEventId ?? (q.get('start') || 'newest')
    const ack = q.get('ack') === 'manual' ? 'manual' : 'none'
    const parsedDelay = parseGoDuration(q.get('redelivery') ?? '')
    const delayMs = parsedDelay === undefined || parsedDelay <= 0 ? 5_000 : Math.min(parsedDelay, 2_147_483_647)
    const rawCount = q.get('redelivery_count')
    const parsedCount = rawCount === null || !/^-?\d+$/.test(rawCount) ? 3 : Number(rawCount)
    const durable = q.get('durable') ?? undefined
    const sub = this.bus.get(subject, {
      start,
      ack,
      redelivery: { delayMs, count: Math.max(0, parsedCount) },
      ...(durable === undefined || durable === '' ? {} : { durable }),
    })
    try {
      await sub.ready
      if (ctx.signal.aborted) return
      const stream = ctx.sse({ headers: { 'X-BUS-CONSUMER-ID': sub.consumerId } })
      this.#consumers.set(sub.consumerId, sub)
      this.#sseClients?.inc()
      stream.signal.addEventListener('abort', () => void sub.return(), { once: true })
      const { maxBufferedBytes, stallTimeoutMs } = this.#limits
      try {
        for await (const event of sub) {
          const record = event.record
          if (
            !(await this.#room(
              stream,
              Buffer.byteLength(record) + 2 * event.id.length + 40,
              maxBufferedBytes,
              stallTimeoutMs,
            ))
          )
            break
          // An id no SSE line can carry (written by another client of the stream) goes without `id:`.
          const id = kWireSafeId.test(event.id) ? { id: event.id } : {}
          if (!stream.send({ ...id, event: 'msg', data: record })) break
        }
      } catch (error) {
        stream.fail(isPulseError(error) ? error : new Error('internal error'))
      } finally {
        this.#consumers.delete(sub.consumerId)
        this.#sseClients?.dec()
        stream.end()
      }
    } finally {
      await sub.return()
    }
  }

  /**
   * Waits until `bytes` more fit within `max` for this client (or nothing waits for it); false once the
   * client has not made room for `stallMs` — the stream is then failed with `SlowConsumerError`.
   */
  async #room(stream: SseStream, bytes: number, max: number, stallMs: number): Promise<boolean> {
    if (stream.bufferedBytes === 0 || stream.bufferedBytes + bytes <= max) return true
    const deadline = Date.now() + stallMs
    while (stream.open && stream.bufferedBytes > 0 && stream.bufferedBytes + bytes > max) {
      if (Date.now() >= deadline) {
        stream.fail(
          new SlowConsumerError(
            `the SSE client read too slowly: ${stream.bufferedBytes} bytes waited for it longer than ${stallMs} ms`,
            { data: { bufferedBytes: stream.bufferedBytes, stallTimeoutMs: stallMs } },
          ),
        )
        return false
      }
      await sleep(Math.min(10, Math.max(1, deadline - Date.now())), stream.signal).catch(() => undefined)
    }
    return stream.open
  }

  async #ack(ctx: HttpContext): Promise<void> {
    const q = ctx.query
    const consumerId = q.get('consumer_id')
    const eventId = q.get('event_id')
    if (consumerId === null || consumerId === '') throw new InvalidArgumentError('missing consumer_id in query string')
    if (!consumerId.startsWith('c_')) throw new InvalidArgumentError('invalid consumer_id in query string')
    if (eventId === null || eventId === '') throw new InvalidArgumentError('missing event_id in query string')
    if (!eventId.startsWith('e_')) throw new InvalidArgumentError('invalid event_id in query string')
    await this.#consumers.get(consumerId)?.ackById(eventId)
    ctx.send(202)
  }
}

export class BusServer extends Closeable {
  readonly http: HttpServer
  readonly bus: Bus

  private constructor(http: HttpServer, bus: Bus) {
    // `http` bounds its own close.
    super({ name: 'BusServer', closeTimeoutMs: kMaxTimerMs })
    this.http = http
    this.bus = bus
  }

  static async listen(options: BusServerOptions): Promise<BusServer> {
    checkKnownKeys(options, ['bus', 'port', 'host', 'auth', 'tls', 'cors', 'limits', 'closeTimeoutMs', 'logger'])
    const api = new BusApi(options.bus, options.limits ?? {})
    const router = new Router()
    api.mount(router)
    const cors = options.cors === undefined || options.cors === true ? DEFAULT_BUS_CORS : options.cors
    const http = await HttpServer.listen({
      router,
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 2021,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...(options.auth === undefined ? {} : { auth: options.auth }),
      cors,
      maxBodyBytes: api.limits.maxBodyBytes,
      sse: { pingIntervalMs: api.limits.pingIntervalMs, maxBufferedBytes: api.limits.maxBufferedBytes },
      errorStatus: BUS_ERROR_STATUS,
      ...(options.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: options.closeTimeoutMs }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      name: 'BusServer',
    })
    return new BusServer(http, options.bus)
  }

  get url(): string {
    return this.http.url
  }

  get port(): number {
    return this.http.port
  }

  /** SSE streams open now. */
  get openStreams(): number {
    return this.http.openStreams
  }

  /** Stops accepting, ends every SSE stream (no final message), waits for requests in flight. The bus stays open. */
  protected onClose(): Promise<void> {
    return this.http.close()
  }
}

/** `limits` over the defaults, each checked. */
function resolveLimits(given: BusServerLimits): Required<BusServerLimits> {
  checkKnownKeys(given, Object.keys(kDefaultLimits), 'options.limits')
  if (given.maxBodyBytes !== undefined) checkInteger(given.maxBodyBytes, 'options.limits.maxBodyBytes', { min: 1 })
  if (given.maxBufferedBytes !== undefined)
    checkInteger(given.maxBufferedBytes, 'options.limits.maxBufferedBytes', { min: 1 })
  if (given.stallTimeoutMs !== undefined)
    checkDurationMs(given.stallTimeoutMs, 'options.limits.stallTimeoutMs', { min: 1 })
  if (given.pingIntervalMs !== undefined) checkDurationMs(given.pingIntervalMs, 'options.limits.pingIntervalMs')
  const set = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined))
  return { ...kDefaultLimits, ...set }
}

/**
 * An event id that travels unchanged as an `X-BUS-EVENT-ID` header value and an SSE `id:` line: Latin-1
 * without ASCII control characters (Node's header rule), no blank at either end (HTTP strips it).
 */
function refuse(option: string, reason: string): never {
  throw new InvalidArgumentError(`${option} ${reason}`, { data: { option, reason: `${option} ${reason}` } })
}

/**
 * Refuses, before anything is published, an id that the answer or a subscriber's stream could not
 * carry, and text that would not be stored as sent (a lone surrogate becomes U+FFFD in UTF-8).
 */
function checkWireEvent(event: WireEvent): void {
  if (event.id !== undefined) checkEventId(event.id, 'id')
  const text = [
    ['subject', event.subject],
    ['key', event.key],
    ['trace_id', event.traceId],
    ['response_subject', event.responseSubject],
  ] as const
  for (const [option, value] of text) {
    if (value !== undefined && !value.isWellFormed()) refuse(option, 'must be well-formed Unicode')
  }
}

function failRequired(): never {
  throw new InvalidArgumentError('subject is required', { data: { reason: 'subject is required' } })
}
