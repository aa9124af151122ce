/**
 * `BusClient`: the `Bus` API (`put`, `get`, `request`, `reply`) over a `BusServer`'s HTTP API, so any
 * process that can reach the server — no Redis — publishes and subscribes.
 *
 * It speaks node:http(s) with an agent of its own rather than `fetch`: Node 20's `fetch` keeps idle
 * keep-alive sockets in a global pool nobody can close, so `close()` could not release them; with its
 * own agent, `close()` ends every stream and socket it opened.
 *
 * - `get` connects at once (the subscription exists when the server answered, `sub.ready`) and parses
 *   the SSE stream. When the connection drops without an `event: error`, it reconnects — up to
 *   `reconnect.attempts` times, `reconnect.delayMs` apart — sending `Last-Event-ID` with the last id
 *   received, so nothing is lost or repeated; the server gives the new connection a new consumer id and
 *   acks follow it. An `event: error` ends the iterator with that error.
 * - `ev.ack()` is `PUT /?consumer_id&event_id`; the server records confirmations itself.
 * - `put(…, { confirm: n })` and `request` listen on a fresh inbox (`GET ?subject=_bus_.<id>`) before
 *   publishing, as the reference's client does. `request` sends `X-BUS-REQUIRE-SUBSCRIBER: 1`, so a
 *   subject nobody subscribes to fails at once with `NoResponderError`.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'

import {
  ClosedError,
  coerceError,
  InvalidArgumentError,
  NoResponderError,
  PulseError,
  SlowConsumerError,
  TimeoutError,
} from '../../runtime/errors.js'
import { anySignal, Closeable, sleep } from '../../runtime/lifecycle.js'
import { checkDurationMs, checkInteger, checkKnownKeys, checkString } from '../../runtime/options.js'
import { trackResource } from '../../runtime/resource-tracker.js'
import { errorFromBody } from '../../transports/http/errors.js'
import type {
  BatchItem,
  PutOptions,
  PutResult,
  ReplyHandle,
  ReplyHandler,
  ReplyOptions,
  RequestOptions,
  Subscription,
} from './types.js'
import { newEventId, newInbox } from './ids.js'
import { within } from './deadline.js'
import type { GetOptions } from './options.js'
import { resolveGetOptions } from './options.js'
import type { Payload } from './record.js'
import { formatTime, parseRecord, toPayload } from './record.js'
import { checkPattern, checkSubject } from './subject.js'
import { type BusEvent, recordEvent } from './subscription.js'

export interface BusClientOptions {
  username?: string
  password?: string
  /** Extra CA (PEM) to trust for https. */
  ca?: string | Buffer
  reconnect?: { attempts?: number; delayMs?: number }
  /** @default 5000 */
  requestTimeoutMs?: number
  /** @default 30000 */
  confirmTimeoutMs?: number
}

interface Reply {
  status: number
  headers: IncomingMessage['headers']
  body: Buffer
}

/** Parses an SSE byte stream into messages (`id`, `event`, `data` joined by `\n`); comments are skipped. */
export class SseParser {
  #buffer = ''
  #id: string | undefined
  #event: string | undefined
  #data: string[] = []

  push(chunk: string, emit: (message: { id: string | undefined; event: string; data: string }) => void): void {
    this.#buffer += chunk
    let nl: number
    while ((nl = this.#buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.#buffer.slice(0, nl)
      this.#buffer = this.#buffer.slice(nl + (this.#buffer[nl] === '\r' && this.#buffer[nl + 1] === '\n' ? 2 : 1))
      if (line === '') {
        if (this.#data.length > 0 || this.#event !== undefined)
          emit({ id: this.#id, event: this.#event ?? 'message', data: this.#data.join('\n') })
        this.#id = undefined
        this.#event = undefined
        this.#data = []
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      let value = colon < 0 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (field === 'id') this.#id = value
      else if (field === 'event') this.#event = value
      else if (field === 'data') this.#data.push(value)
    }
  }
}

function remoteError(text: string): Error {
  if (text.includes('not found')) return new InvalidArgumentError(text)
  if (text.includes('too slowly')) return new SlowConsumerError(text)
  return new PulseError('PULSE_ERR_INTERNAL', text)
}

export class BusClient extends Closeable {
  readonly url: URL
  readonly #agent: HttpAgent
  readonly #auth: string | undefined
  readonly #ca: string | Buffer | undefined
  readonly #attempts: number
  readonly #delayMs: number
  readonly #requestTimeoutMs: number
  readonly #confirmTimeoutMs: number
  readonly #subs = new Set<ClientSubscription>()
  readonly #untrack: () => void

  constructor(url: string, options: BusClientOptions = {}) {
    checkKnownKeys(options, ['username', 'password', 'ca', 'reconnect', 'requestTimeoutMs', 'confirmTimeoutMs'])
    const parsed = new URL(checkString(url, 'url', { nonEmpty: true }))
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new InvalidArgumentError('url must be http:// or https://', { data: { option: 'url' } })
    super({ name: `BusClient ${parsed.origin}`, closeTimeoutMs: 5_000 })
    this.url = parsed
    if (options.username !== undefined) {
      checkString(options.username, 'options.username', { nonEmpty: true })
      this.#auth = `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`
    }
    this.#ca = options.ca
    this.#attempts =
      options.reconnect?.attempts === undefined
        ? 3
        : checkInteger(options.reconnect.attempts, 'options.reconnect.attempts', { min: 0 })
    this.#delayMs =
      options.reconnect?.delayMs === undefined
        ? 1_000
        : checkDurationMs(options.reconnect.delayMs, 'options.reconnect.delayMs')
    this.#requestTimeoutMs =
      options.requestTimeoutMs === undefined
        ? 5_000
        : checkDurationMs(options.requestTimeoutMs, 'options.requestTimeoutMs', { min: 1 })
    this.#confirmTimeoutMs =
      options.confirmTimeoutMs === undefined
        ? 30_000
        : checkDurationMs(options.confirmTimeoutMs, 'options.confirmTimeoutMs', { min: 1 })
    this.#agent =
      this.url.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, ...(this.#ca === undefined ? {} : { ca: this.#ca }) })
        : new HttpAgent({ keepAlive: true })
    this.#untrack = trackResource('other', `BusClient ${this.url.origin}`)
  }

  /** Ends every subscription, then drops the agent's sockets. */
  protected async onClose(): Promise<void> {
    await Promise.all([...this.#subs].map((sub) => sub.return()))
    this.#agent.destroy()
    this.#untrack()
  }

  /** Sends one request; resolves with the whole answer (any status). */
  call(
    method: string,
    query: Record<string, string>,
    options: { body?: string; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = this.#request(method, query, options.headers ?? {}, options.signal, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      })
      req.on('error', (error) => reject(connectionError(error)))
      req.end(options.body)
    })
  }

  #request(
    method: string,
    query: Record<string, string>,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
    onResponse: (res: IncomingMessage) => void,
  ) {
    const target = new URL(this.url)
    for (const [k, v] of Object.entries(query)) target.searchParams.set(k, v)
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest
    return send(
      target,
      {
        method,
        agent: this.#agent,
        headers: {
          Accept: 'application/json',
          ...(this.#auth === undefined ? {} : { Authorization: this.#auth }),
          ...headers,
        },
        ...(signal === undefined ? {} : { signal }),
        ...(this.#ca === undefined ? {} : { ca: this.#ca }),
      },
      onResponse,
    )
  }

  /** Opens an SSE stream; resolves with the response once it is 200, else rejects with the server's error. */
  openStream(
    query: Record<string, string>,
    lastEventId: string | undefined,
    signal: AbortSignal,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = this.#request(
        'GET',
        query,
        lastEventId === undefined
          ? { Accept: 'text/event-stream, application/json' }
          : { Accept: 'text/event-stream, application/json', 'Last-Event-ID': lastEventId },
        signal,
        (res) => {
          if (res.statusCode === 200) {
            resolve(res)
            return
          }
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => reject(bodyError(res.statusCode ?? 0, Buffer.concat(chunks))))
          res.on('error', reject)
        },
      )
      req.on('error', (error) => reject(connectionError(error)))
      req.end()
    })
  }

  put(subject: string, payload?: Payload, options?: Omit<PutOptions, 'requireSubscriber'>): Promise<PutResult>
  put(items: readonly BatchItem[], options?: Pick<PutOptions, 'signal'>): Promise<PutResult[]>
  async put(
    first: string | readonly BatchItem[],
    second?: Payload | Pick<PutOptions, 'signal'>,
    third?: PutOptions,
  ): Promise<PutResult | PutResult[]> {
    this.assertOpen('put')
    if (Array.isArray(first)) {
      const createdAt = formatTime(new Date())
      const items = (first as readonly BatchItem[]).map((item) => ({ ...item, id: item.id ?? newEventId() }))
      const body = `[${items.map((item) => wireEvent({ ...item, createdAt })).join(',')}]`
      await this.#post(body, {}, (second as Pick<PutOptions, 'signal'> | undefined)?.signal)
      return items.map((item) => ({ id: item.id, index: -1, createdAt: new Date(createdAt), createdAtText: createdAt }))
    }
    const subject = checkSubject(first)
    const options = third ?? {}
    const confirm = options.confirm ?? 0
    if (confirm <= 0) return this.#putOne(subject, second, options, {})
    return this.#withInbox(options.signal, async (inbox, sub, signal) => {
      const result = await this.#putOne(subject, second, { ...options, responseSubject: inbox }, {})
      const consumers = new Set<string>()
      const timeoutMs = options.timeoutMs ?? this.#confirmTimeoutMs
      const counting = (async () => {
        for await (const event of sub) {
          if (event.key?.startsWith('c_') === true) consumers.add(event.key)
          if (consumers.size >= confirm) return true
        }
        return false
      })()
      const ok = (await within(counting, timeoutMs, signal)) === true
      if (!ok)
        throw new TimeoutError(
          `put ${subject}: ${consumers.size} of ${confirm} consumers confirmed within ${timeoutMs} ms (the event is published)`,
          { data: { id: result.id, confirmed: consumers.size, wanted: confirm } },
        )
      return result
    })
  }

  /** Runs `work` with a fresh inbox once its subscription is live; the inbox is left whatever happens. */
  async #withInbox<T>(
    signal: AbortSignal | undefined,
    work: (inbox: string, sub: Subscription, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const inbox = newInbox()
    const sub = this.get(inbox)
    const combined = anySignal([signal, this.signal])
    try {
      await sub.ready
      return await work(inbox, sub, combined.signal)
    } finally {
      combined.dispose()
      await sub.return()
    }
  }

  async #putOne(
    subject: string,
    payload: Payload | undefined,
    options: PutOptions,
    headers: Record<string, string>,
  ): Promise<PutResult> {
    const body = wireEvent({
      subject,
      payload,
      id: options.id,
      key: options.key,
      traceId: options.traceId,
      responseSubject: options.responseSubject,
      createdAt: options.createdAt,
    })
    const reply = await this.#post(body, headers, options.signal)
    const createdAtText = String(reply.headers['x-bus-event-created-at'] ?? '')
    return {
      id: String(reply.headers['x-bus-event-id'] ?? ''),
      index: Number(reply.headers['x-bus-event-index'] ?? -1),
      createdAt: new Date(createdAtText),
      createdAtText,
    }
  }

  async #post(body: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<Reply> {
    const reply = await this.call(
      'POST',
      {},
      {
        body,
        headers: { 'Content-Type': 'application/json', ...headers },
        ...(signal === undefined ? {} : { signal }),
      },
    )
    if (reply.status !== 202) throw bodyError(reply.status, reply.body)
    return reply
  }

  /** Subscribes (connecting now); see `Bus.get`. */
  get(pattern: string, options: GetOptions = {}): Subscription {
    this.assertOpen('get')
    checkPattern(pattern)
    const resolved = resolveGetOptions(options)
    const query: Record<string, string> = {
      subject: pattern,
      start: resolved.start,
      ack: resolved.ack,
      redelivery: `${resolved.delayMs}ms`,
      redelivery_count: String(resolved.count),
    }
    if (resolved.durable !== undefined) query.durable = resolved.durable
    const sub = new ClientSubscription(this, query, this.#attempts, this.#delayMs, resolved.signal, (s) =>
      this.#subs.delete(s),
    )
    this.#subs.add(sub)
    return sub
  }

  async request(subject: string, payload?: Payload, options: RequestOptions = {}): Promise<Buffer> {
    this.assertOpen('request')
    checkSubject(subject)
    const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs
    return this.#withInbox(options.signal, async (inbox, sub, signal) => {
      const put: PutOptions = { responseSubject: inbox }
      if (options.key !== undefined) put.key = options.key
      if (options.traceId !== undefined) put.traceId = options.traceId
      await this.#putOne(subject, payload, put, { 'X-BUS-REQUIRE-SUBSCRIBER': '1' })
      const replying = (async () => {
        for await (const event of sub) {
          if (event.key?.startsWith('c_') === true && event.payload.length === 0) continue
          return event.payload
        }
        return undefined
      })()
      const reply = await within(replying, timeoutMs, signal)
      if (reply === undefined)
        throw new NoResponderError(`no reply to ${subject} within ${timeoutMs} ms`, { data: { subject, timeoutMs } })
      return reply
    })
  }

  reply(pattern: string, handler: ReplyHandler, options: ReplyOptions = {}): ReplyHandle {
    checkKnownKeys(options, ['concurrency'])
    const sub = this.get(pattern)
    const loop = (async () => {
      for await (const event of sub) {
        const inbox = event.responseSubject
        if (inbox === undefined) continue
        let payload: Payload | undefined
        try {
          payload = await handler(event)
        } catch (error) {
          payload = { error: coerceError(error).message }
        }
        await this.#putOne(inbox, payload, {}, {}).catch(() => undefined)
      }
    })().catch(() => undefined)
    return {
      ready: sub.ready,
      close: async () => {
        await sub.return()
        await loop
      },
    }
  }
}

function connectionError(error: unknown): Error {
  const err = coerceError(error)
  if (err.name === 'AbortError') return new ClosedError('the request was aborted', { cause: err })
  return new PulseError('PULSE_ERR_INTERNAL', `HTTP request failed: ${err.message}`, { cause: err })
}

function bodyError(status: number, body: Buffer): Error {
  const text = body.toString('utf8')
  try {
    return errorFromBody(status, JSON.parse(text))
  } catch {
    return new PulseError('PULSE_ERR_INTERNAL', `HTTP ${status}: ${text.trim()}`, { data: { status } })
  }
}

function wireEvent(event: {
  subject: string
  payload?: Payload | undefined
  id?: string | undefined
  key?: string | undefined
  traceId?: string | undefined
  responseSubject?: string | undefined
  createdAt?: string | undefined
}): string {
  const payload = toPayload(event.payload)
  let out = '{'
  if (event.id !== undefined) out += `"id":${JSON.stringify(event.id)},`
  if (event.traceId !== undefined) out += `"trace_id":${JSON.stringify(event.traceId)},`
  if (event.key !== undefined) out += `"key":${JSON.stringify(event.key)},`
  out += `"subject":${JSON.stringify(event.subject)}`
  if (event.responseSubject !== undefined) out += `,"response_subject":${JSON.stringify(event.responseSubject)}`
  if (event.createdAt !== undefined) out += `,"created_at":${JSON.stringify(event.createdAt)}`
  if (payload.length > 0) out += `,"payload":${payload.toString('utf8')}`
  return `${out}}`
}

/** A subscription over SSE, with transparent reconnects (see the module comment). */
class ClientSubscription implements Subscription {
  readonly pattern: string
  readonly ready: Promise<void>
  #consumerId = ''
  readonly #client: BusClient
  readonly #query: Record<string, string>
  readonly #controller = new AbortController()
  readonly #onDone: (sub: ClientSubscription) => void
  #queue: BusEvent[] = []
  #error: Error | undefined
  #ended = false
  #closed = false
  #wake: (() => void) | undefined
  #lastId: string | undefined
  #res: IncomingMessage | undefined
  readonly #loop: Promise<void>

  constructor(
    client: BusClient,
    query: Record<string, string>,
    attempts: number,
    delayMs: number,
    signal: AbortSignal | undefined,
    onDone: (sub: ClientSubscription) => void,
  ) {
    this.#client = client
    this.#query = query
    this.pattern = query.subject as string
    this.#onDone = onDone
    signal?.addEventListener('abort', () => void this.return(), { once: true })
    let connected: () => void = () => {}
    let failed: (error: Error) => void = () => {}
    this.ready = new Promise<void>((resolve, reject) => {
      connected = resolve
      failed = reject
    })
    this.ready.catch(() => undefined)
    this.#loop = this.#run(attempts, delayMs, connected, failed)
  }

  get consumerId(): string {
    return this.#consumerId
  }

  get closed(): boolean {
    return this.#closed
  }

  async #run(attempts: number, delayMs: number, connected: () => void, failed: (error: Error) => void): Promise<void> {
    let first = true
    let tries = 0
    while (!this.#closed) {
      let res: IncomingMessage
      try {
        res = await this.#client.openStream(this.#query, this.#lastId, this.#controller.signal)
      } catch (error) {
        const err = coerceError(error)
        if (this.#closed) break
        if (first || (err instanceof PulseError && err.code !== 'PULSE_ERR_INTERNAL') || ++tries > attempts) {
          if (first) failed(err)
          this.#finish(err)
          return
        }
        await sleep(delayMs, this.#controller.signal).catch(() => undefined)
        continue
      }
      tries = 0
      this.#res = res
      this.#consumerId = String(res.headers['x-bus-consumer-id'] ?? '')
      if (first) {
        first = false
        connected()
      }
      const outcome = await this.#read(res)
      if (outcome === 'error' || this.#closed) return
      if (++tries > attempts) {
        this.#finish(new ClosedError('the SSE stream ended and reconnecting failed'))
        return
      }
      await sleep(delayMs, this.#controller.signal).catch(() => undefined)
    }
  }

  #read(res: IncomingMessage): Promise<'ended' | 'error'> {
    return new Promise((resolve) => {
      const parser = new SseParser()
      let done = false
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        parser.push(chunk, (message) => {
          if (done) return
          if (message.event === 'error') {
            done = true
            this.#finish(remoteError(message.data))
            res.destroy()
            resolve('error')
            return
          }
          if (message.event !== 'msg') return
          try {
            const record = parseRecord(message.data)
            if (message.id !== undefined) this.#lastId = message.id
            this.#push(record, message.data)
          } catch {
            // skip a malformed record
          }
        })
      })
      res.on('close', () => {
        if (!done) resolve('ended')
        done = true
      })
      res.on('error', () => undefined)
    })
  }

  #push(record: ReturnType<typeof parseRecord>, text: string): void {
    const consumerId = this.#consumerId
    const client = this.#client
    this.#queue.push(
      recordEvent(record, text, consumerId, async () => {
        const reply = await client.call('PUT', { consumer_id: this.#consumerId, event_id: record.id })
        if (reply.status !== 202) throw bodyError(reply.status, reply.body)
      }),
    )
    this.#wakeUp()
  }

  #wakeUp(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  #finish(error?: Error): void {
    this.#ended = true
    if (error !== undefined && !this.#closed) this.#error = error
    this.#wakeUp()
  }

  async next(): Promise<IteratorResult<BusEvent>> {
    for (;;) {
      const event = this.#queue.shift()
      if (event !== undefined) return { done: false, value: event }
      if (this.#closed) return { done: true, value: undefined }
      if (this.#ended) {
        const error = this.#error
        this.#error = undefined
        await this.return()
        if (error !== undefined) throw error
        return { done: true, value: undefined }
      }
      await new Promise<void>((resolve) => (this.#wake = resolve))
    }
  }

  ackById(eventId: string): Promise<boolean> {
    return this.#client
      .call('PUT', { consumer_id: this.#consumerId, event_id: eventId })
      .then((reply) => reply.status === 202)
  }

  async return(): Promise<IteratorResult<BusEvent>> {
    if (!this.#closed) {
      this.#closed = true
      this.#queue = []
      this.#controller.abort()
      this.#res?.destroy()
      this.#wakeUp()
      this.#onDone(this)
      await this.#loop
    }
    return { done: true, value: undefined }
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
