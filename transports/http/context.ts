/** What a route handler gets for one request: the request, helpers to answer it, and its signal. */
import type { IncomingMessage, ServerResponse } from 'node:http'

import { readBody, readJson } from './body.js'
import type { ResolvedSseOptions, SseOptions } from './sse.js'
import { resolveSseOptions, SseStream } from './sse.js'

/** What a context needs from its server. */
export interface ContextHost {
  readonly maxBodyBytes: number
  readonly sse: ResolvedSseOptions
  /** Called with each SSE stream opened, so that the server can end it when it closes. */
  adopt(stream: SseStream): void
}

export class HttpContext {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly method: string
  readonly url: URL
  /** The route's `:name` and `*` parts. */
  readonly params: Readonly<Record<string, string>>
  /** The authenticated user, when the server checks credentials. */
  readonly user: string | undefined
  /** Whether that user is read-only (their requests other than reads are refused with 403). */
  readonly readOnly: boolean
  /** Aborts when the client goes away before the response is complete, or the server is destroyed. */
  readonly signal: AbortSignal
  readonly #host: ContextHost
  #stream: SseStream | undefined

  constructor(
    init: {
      req: IncomingMessage
      res: ServerResponse
      url: URL
      params: Readonly<Record<string, string>>
      user: string | undefined
      readOnly?: boolean
      signal: AbortSignal
    },
    host: ContextHost,
  ) {
    this.req = init.req
    this.res = init.res
    this.method = init.req.method ?? 'GET'
    this.url = init.url
    this.params = init.params
    this.user = init.user
    this.readOnly = init.readOnly ?? false
    this.signal = init.signal
    this.#host = host
  }

  get query(): URLSearchParams {
    return this.url.searchParams
  }

  /** The SSE stream this request opened, if any. */
  get stream(): SseStream | undefined {
    return this.#stream
  }

  /** The body, at most `maxBytes` (the server's `maxBodyBytes` by default): `BodyTooLargeError` past it. */
  readBody(maxBytes = this.#host.maxBodyBytes): Promise<Buffer> {
    return readBody(this.req, maxBytes)
  }

  /** The body parsed as JSON; `ProtocolError` (400) when it is empty or malformed. */
  readJson(maxBytes = this.#host.maxBodyBytes): Promise<unknown> {
    return readJson(this.req, maxBytes)
  }

  /** Answers with `status`, optional headers and body. */
  send(status: number, body?: string | Uint8Array, headers: Readonly<Record<string, string | number>> = {}): void {
    const length = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength
    this.res.writeHead(status, {
      ...(body === undefined && status === 204 ? {} : { 'Content-Length': length }),
      ...headers,
    })
    this.res.end(body)
  }

  /** Answers with `status` and `value` as JSON. */
  json(status: number, value: unknown, headers: Readonly<Record<string, string | number>> = {}): void {
    this.send(status, JSON.stringify(value), { 'Content-Type': 'application/json; charset=utf-8', ...headers })
  }

  /** Opens an SSE stream on this response (200 and the event-stream headers are sent at once). */
  sse(options?: SseOptions): SseStream {
    const stream = new SseStream(this.req, this.res, resolveSseOptions(options, this.#host.sse))
    this.#stream = stream
    this.#host.adopt(stream)
    return stream
  }
}
