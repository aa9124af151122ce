/**
 * A server-sent-events stream on one response, in the framing ella.to/bus uses:
 *
 *     id: e_d1k2abcd0001ef234567
 *     event: msg
 *     data: {"id":"e_d1k2abcd0001ef234567","subject":"a.b.c",...}
 *     <blank line>
 *
 * Data with line breaks becomes several `data:` lines (a client joins them with `\n`); an error is
 * `event: error` + `data: <message>` without `id`; after `pingIntervalMs` without a write the stream
 * sends the comment `: ping` (every write resets that timer).
 *
 * It is a `Destroyable` (the house lifecycle): sending stops, and `signal` aborts, the moment the stream
 * leaves `open`, for one of these reasons, each visible as `closed`'s value and `signal.reason`:
 * - `end()` or `close()` by the caller (or the server closing): the response ends without a final
 *   message; `closed` resolves `undefined` once the response has closed (its tail went to the socket),
 *   and `signal` aborts with a `ClosedError`;
 * - the client went away (the response closed before we ended it): `ClosedError`, `data.reason`
 *   `'disconnected'`;
 * - `fail(error)`: an `event: error` frame with its message, then the end; `closed` resolves `error`;
 * - the client reads too slowly: a write would take the bytes waiting for the client (`res.writableLength`,
 *   which counts the response's and the socket's buffers) past `maxBufferedBytes`; the frame is not
 *   written, an error frame is, the stream ends with `SlowConsumerError`. So what waits for one client
 *   never exceeds `maxBufferedBytes` (or one frame, when a single frame is bigger) plus that error frame;
 * - `destroy(reason)`: the socket is destroyed at once; `closed` resolves `reason`.
 *
 * The stream's `closeTimeoutMs` is its `closeGraceMs`: a client that does not take the tail within it
 * has its socket destroyed (after `end()`, `closed` then resolves `CloseTimeoutError`), so a stalled
 * client cannot hold the server's close or its memory.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

import { ClosedError, InvalidArgumentError, SlowConsumerError } from '../../runtime/errors.js'
import { Destroyable, withTimeout } from '../../runtime/lifecycle.js'
import { checkDurationMs, checkInteger, checkKnownKeys, resolveOptions } from '../../runtime/options.js'

export interface SseOptions {
  /** Idle time after which `: ping` is sent; 0 sends none. @default 30000 */
  pingIntervalMs?: number
  /** Bytes that may wait for a slow client before its stream is closed. @default 1048576 (1 MiB) */
  maxBufferedBytes?: number
  /** How long the end of a stream may take to reach the client before its socket is destroyed. @default 1000 */
  closeGraceMs?: number
  /** More response headers (e.g. a consumer id). */
  headers?: Readonly<Record<string, string>>
}

export type ResolvedSseOptions = Required<SseOptions>

export const DEFAULT_SSE_OPTIONS = {
  pingIntervalMs: 30_000,
  maxBufferedBytes: 1024 * 1024,
  closeGraceMs: 1_000,
  headers: {},
} as const satisfies ResolvedSseOptions

export function resolveSseOptions(
  options: SseOptions | undefined,
  defaults: ResolvedSseOptions = DEFAULT_SSE_OPTIONS,
  path = 'options',
): ResolvedSseOptions {
  if (options === undefined) return defaults
  checkKnownKeys(options, Object.keys(DEFAULT_SSE_OPTIONS), path)
  if (options.pingIntervalMs !== undefined) checkDurationMs(options.pingIntervalMs, `${path}.pingIntervalMs`)
  if (options.maxBufferedBytes !== undefined)
    checkInteger(options.maxBufferedBytes, `${path}.maxBufferedBytes`, { min: 1 })
  if (options.closeGraceMs !== undefined) checkDurationMs(options.closeGraceMs, `${path}.closeGraceMs`)
  if (options.headers !== undefined && (typeof options.headers !== 'object' || options.headers === null)) {
    throw new InvalidArgumentError(`${path}.headers must be an object`, { data: { option: `${path}.headers` } })
  }
  return resolveOptions(defaults, { ...options, headers: { ...defaults.headers, ...options.headers } })
}

export interface SseMessage {
  /** The `id:` line (what a reconnecting client sends back as `Last-Event-ID`). */
  id?: string
  /** The `event:` line; absent means the client's default, `message`. */
  event?: string
  /** The payload; line breaks split it into several `data:` lines. */
  data: string | Uint8Array
}

const kLineBreak = /\r\n|\r|\n/

function noop(): void {}

function checkField(value: string, name: string): string {
  if (kLineBreak.test(value) || value.includes('\0')) {
    throw new InvalidArgumentError(`SSE ${name} must not contain line breaks or NUL`, { data: { option: name } })
  }
  return value
}

/** One SSE frame, ending with its blank line. */
export function encodeSseMessage({ id, event, data }: SseMessage): string {
  let frame = ''
  if (id !== undefined) frame += `id: ${checkField(id, 'id')}\n`
  if (event !== undefined) frame += `event: ${checkField(event, 'event')}\n`
  const text =
    typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')
  for (const line of text.split(kLineBreak)) frame += `data: ${line}\n`
  return `${frame}\n`
}

/** The `Last-Event-ID` a reconnecting client sent, or undefined when absent or empty. */
export function lastEventIdOf(req: IncomingMessage): string | undefined {
  const value = req.headers['last-event-id']
  const id = Array.isArray(value) ? value[0] : value
  return id === undefined || id.trim() === '' ? undefined : id.trim()
}

export class SseStream extends Destroyable {
  /** The `Last-Event-ID` request header, if the client sent one. */
  readonly lastEventId: string | undefined
  readonly #res: ServerResponse
  readonly #options: ResolvedSseOptions
  #ping: NodeJS.Timeout | undefined
  /** What `fail()` (or a slow client) announces in an error frame before the end; a plain destroy drops the socket. */
  #announce: Error | undefined

  /** Use `ctx.sse()`; this writes the response head at once. */
  constructor(req: IncomingMessage, res: ServerResponse, options: ResolvedSseOptions) {
    super({ name: 'SSE stream', closeTimeoutMs: options.closeGraceMs })
    this.#res = res
    this.#options = options
    this.lastEventId = lastEventIdOf(req)
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
      ...options.headers,
    })
    res.flushHeaders()
    // Once the stream ends, the response's 'close' is the end of the tail, awaited by onClose/onDestroy.
    res.once('close', () => {
      if (this.state !== 'open') return
      this.destroy(new ClosedError('the SSE client disconnected', { data: { reason: 'disconnected' } })).catch(noop)
    })
    if (options.pingIntervalMs > 0) this.#ping = setTimeout(() => this.#onPing(), options.pingIntervalMs)
  }

  get open(): boolean {
    return this.state === 'open'
  }

  /** Bytes written but not yet taken by the client's socket. */
  get bufferedBytes(): number {
    return this.#res.writableLength
  }

  get maxBufferedBytes(): number {
    return this.#options.maxBufferedBytes
  }

  /**
   * Writes one event. Returns `false` when the stream is closed — already, or now because the client is
   * too slow (then `closed` resolves `SlowConsumerError`). Throws `InvalidArgumentError` for an `id` or
   * `event` with a line break.
   */
  send(message: SseMessage): boolean {
    return this.#write(encodeSseMessage(message))
  }

  /** Writes a comment line (`: text`), which clients ignore. */
  comment(text: string): boolean {
    return this.#write(`: ${checkField(text, 'comment')}\n\n`)
  }

  /** Resolves once what waits for the client has been taken by the socket, or the stream closed. */
  drained(): Promise<void> {
    if (!this.open || this.#res.writableLength === 0 || !this.#res.writableNeedDrain) return Promise.resolve()
    const signal = this.signal
    return new Promise((resolve) => {
      const done = () => {
        this.#res.off('drain', done)
        signal.removeEventListener('abort', done)
        resolve()
      }
      this.#res.once('drain', done)
      signal.addEventListener('abort', done, { once: true })
    })
  }

  /** Ends the stream (no final message), as `close()` does without waiting. Idempotent. */
  end(): void {
    this.close().catch(noop)
  }

  /** Sends `event: error` with the error's message, then ends; `closed` resolves `error`. No-op once closed. */
  fail(error: Error): void {
    if (!this.open) return
    this.#announce = error
    this.destroy(error).catch(noop)
  }

  /** The end without a final message: resolves once the response closed (the tail went to the socket). */
  protected async onClose(): Promise<void> {
    clearTimeout(this.#ping)
    await this.#endResponse()
  }

  /**
   * After `fail()`: the error frame, then the end, bounded by `closeGraceMs`; otherwise (a close that
   * ran out of time, `destroy()`, the client gone) the socket is destroyed at once.
   */
  protected override async onDestroy(): Promise<void> {
    clearTimeout(this.#ping)
    const res = this.#res
    const announce = this.#announce
    if (announce === undefined || res.destroyed || res.writableEnded) {
      res.destroy()
      return
    }
    res.write(`event: error\ndata: ${announce.message.replace(/[\r\n]+/g, ' ')}\n\n`)
    const ended = this.#endResponse()
    await withTimeout(ended, this.#options.closeGraceMs, () => new Error('not ended')).catch(() => res.destroy())
  }

  #onPing(): void {
    if (this.#write(': ping\n\n')) this.#ping?.refresh()
  }

  #write(frame: string): boolean {
    if (!this.open) return false
    const size = Buffer.byteLength(frame)
    const buffered = this.#res.writableLength
    if (buffered > 0 && buffered + size > this.#options.maxBufferedBytes) {
      this.fail(
        new SlowConsumerError(
          `the SSE client read too slowly: ${buffered} bytes were waiting for it and the next ${size} would pass maxBufferedBytes (${this.#options.maxBufferedBytes})`,
          { data: { bufferedBytes: buffered, frameBytes: size, maxBufferedBytes: this.#options.maxBufferedBytes } },
        ),
      )
      return false
    }
    this.#res.write(frame)
    this.#ping?.refresh()
    return true
  }

  /** Ends the response; resolves once it has closed: the tail went to the socket, or the socket is gone. */
  #endResponse(): Promise<void> {
    const res = this.#res
    if (res.destroyed) return Promise.resolve()
    const closed = new Promise<void>((resolve) => res.once('close', () => resolve()))
    if (!res.writableEnded) res.end()
    return closed
  }
}
