/**
 * `HttpServer`: node:http (or node:https, given a key and cert) with the house lifecycle.
 *
 * A request goes through, in order: CORS headers (when `cors` is on; any `OPTIONS` is then a preflight,
 * answered 204 before authentication, since browsers send preflights without credentials), Basic auth
 * (when `auth` is given: 401 with `WWW-Authenticate` without valid credentials), the router (404/405),
 * the handler. A handler answers through its `HttpContext` (`json`, `send`, `sse`); one that returns
 * without answering gets 204. What it throws is answered by `sendError` (status by code, JSON body with
 * the code); a non-Pulse error is logged and answered 500. When the error leaves part of the request
 * body unread, up to `maxBodyBytes` more of it is read and dropped so that the answer reaches a client
 * still sending; past that the connection is destroyed. Nothing is buffered beyond `maxBodyBytes`.
 *
 * `close()`: stops accepting, ends every SSE stream (no final message; a client that does not take the
 * end within the stream's `closeGraceMs` has its socket destroyed), closes idle keep-alive sockets —
 * and each one that becomes idle — and waits for the requests in flight; requests arriving meanwhile on
 * open connections get 503. Past `closeTimeoutMs` every connection is destroyed and `close()` rejects
 * with `CloseTimeoutError`.
 */
import { createServer as createHttpServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'

import {
  ClosedError,
  coerceError,
  ForbiddenError,
  InvalidArgumentError,
  isPulseError,
  ProtocolError,
  UnauthorizedError,
} from '../../runtime/errors.js'
import { Destroyable } from '../../runtime/lifecycle.js'
import { checkLogger, SILENT_LOGGER } from '../../runtime/logger.js'
import type { Logger } from '../../runtime/logger.js'
import { checkDurationMs, checkInteger, checkKnownKeys, checkString, resolveOptions } from '../../runtime/options.js'
import { trackResource } from '../../runtime/resource-tracker.js'
import type { BasicAuthOptions } from './auth.js'
import { BasicAuth } from './auth.js'
import { discardBody } from './body.js'
import type { ContextHost } from './context.js'
import { HttpContext } from './context.js'
import type { CorsOptions } from './cors.js'
import { Cors } from './cors.js'
import type { ErrorStatusTable } from './errors.js'
import { DEFAULT_ERROR_STATUS, sendError } from './errors.js'
import { Router } from './router.js'
import type { ResolvedSseOptions, SseOptions, SseStream } from './sse.js'
import { DEFAULT_SSE_OPTIONS, resolveSseOptions } from './sse.js'

export interface TlsOptions {
  /** PEM private key. */
  key: string | Buffer
  /** PEM certificate (chain). */
  cert: string | Buffer
}

export interface HttpServerOptions {
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string
  /** Port; 0 picks a free one (see `url`). @default 0 */
  port?: number
  /** Serve HTTPS with this key and certificate. */
  tls?: TlsOptions
  /** The routes; more can be added to `server.router` later. @default an empty router */
  router?: Router
  /** CORS: `true` for the defaults (`DEFAULT_CORS_OPTIONS`), options, or `false` for none. @default false */
  cors?: boolean | CorsOptions
  /** HTTP Basic auth against a users table; without it every request is let through. */
  auth?: BasicAuthOptions
  /**
   * Paths served without Basic credentials when `auth` is on: exact pathnames (`/healthz`), or prefixes
   * ending in `/*` (`/ui/*`: a surface with its own sign-in). @default none
   */
  openPaths?: readonly string[]
  /** Largest request body `ctx.readBody()`/`readJson()` accept (413 past it). @default 1048576 (1 MiB) */
  maxBodyBytes?: number
  /** Defaults of every SSE stream (`ctx.sse(options)` overrides per stream). */
  sse?: SseOptions
  /** Status by error code, over `DEFAULT_ERROR_STATUS`. */
  errorStatus?: ErrorStatusTable
  /** Bound of a graceful `close()`. @default 5000 */
  closeTimeoutMs?: number
  /** Where unexpected handler errors are logged. @default silent */
  logger?: Logger
  /** Names the server in messages. @default 'HttpServer' */
  name?: string
}

/** The plain fields of `HttpServerOptions` after defaults. */
export type ResolvedHttpServerOptions = Required<
  Pick<HttpServerOptions, 'host' | 'port' | 'maxBodyBytes' | 'closeTimeoutMs' | 'name'>
>

export const DEFAULT_HTTP_SERVER_OPTIONS = {
  host: '127.0.0.1',
  port: 0,
  maxBodyBytes: 1024 * 1024,
  closeTimeoutMs: 5_000,
  name: 'HttpServer',
} as const satisfies ResolvedHttpServerOptions

const kKnownOptions = [
  'host',
  'port',
  'tls',
  'router',
  'cors',
  'auth',
  'openPaths',
  'maxBodyBytes',
  'sse',
  'errorStatus',
  'closeTimeoutMs',
  'logger',
  'name',
]

/** What a read-only user may ask for. */
const kReadMethods = new Set(['GET', 'HEAD', 'OPTIONS'])

function checkOpenPaths(paths: unknown): readonly string[] {
  if (paths === undefined) return []
  if (!Array.isArray(paths)) {
    throw new InvalidArgumentError('options.openPaths must be a list of paths starting with /', {
      data: { option: 'options.openPaths' },
    })
  }
  paths.forEach((path: unknown, i) => checkString(path, `options.openPaths[${i}]`, { pattern: /^\// }))
  return paths as string[]
}

function checkTls(tls: unknown): TlsOptions {
  checkKnownKeys(tls as object, ['key', 'cert'], 'options.tls')
  const { key, cert } = tls as Record<string, unknown>
  for (const [name, value] of [
    ['key', key],
    ['cert', cert],
  ] as const) {
    if (!Buffer.isBuffer(value)) checkString(value, `options.tls.${name} (PEM text or a Buffer)`, { nonEmpty: true })
  }
  return tls as TlsOptions
}

export class HttpServer extends Destroyable {
  /** `http://host:port` or `https://host:port`, with the port actually bound. */
  readonly url: string
  readonly host: string
  readonly port: number
  readonly router: Router
  readonly #server: Server
  readonly #cors: Cors | undefined
  readonly #auth: BasicAuth | undefined
  readonly #openPaths: ReadonlySet<string>
  readonly #errorStatus: ErrorStatusTable
  readonly #logger: Logger
  readonly #host: ContextHost
  readonly #streams = new Set<SseStream>()
  /** One controller per request in flight, aborted when its client goes away or on `destroy()`. */
  readonly #requests = new Set<AbortController>()
  readonly #release: () => void

  private constructor(
    server: Server,
    options: {
      router: Router
      cors: Cors | undefined
      auth: BasicAuth | undefined
      openPaths: ReadonlySet<string>
      errorStatus: ErrorStatusTable
      logger: Logger
      maxBodyBytes: number
      sse: ResolvedSseOptions
      closeTimeoutMs: number
      name: string
      tls: boolean
    },
  ) {
    const address = server.address() as AddressInfo
    const url = `${options.tls ? 'https' : 'http'}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
    super({ name: `${options.name} ${url}`, closeTimeoutMs: options.closeTimeoutMs })
    this.#server = server
    this.router = options.router
    this.#cors = options.cors
    this.#auth = options.auth
    this.#openPaths = options.openPaths
    this.#errorStatus = options.errorStatus
    this.#logger = options.logger
    this.host = address.address
    this.port = address.port
    this.url = url
    const streams = this.#streams
    this.#host = {
      maxBodyBytes: options.maxBodyBytes,
      sse: options.sse,
      adopt(stream) {
        streams.add(stream)
        void stream.closed.then(() => streams.delete(stream))
      },
    }
    this.#release = trackResource('server', `http server ${this.url}`)
    void this.closed.then(() => this.#release())
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.#handle(req, res))
  }

  /** Creates the server and resolves once it listens. */
  static async listen(options: HttpServerOptions = {}): Promise<HttpServer> {
    checkKnownKeys(options, kKnownOptions)
    if (options.host !== undefined) checkString(options.host, 'options.host', { nonEmpty: true })
    if (options.port !== undefined) checkInteger(options.port, 'options.port', { min: 0, max: 65_535 })
    if (options.maxBodyBytes !== undefined) checkInteger(options.maxBodyBytes, 'options.maxBodyBytes', { min: 0 })
    if (options.closeTimeoutMs !== undefined) checkDurationMs(options.closeTimeoutMs, 'options.closeTimeoutMs')
    if (options.name !== undefined) checkString(options.name, 'options.name', { nonEmpty: true })
    if (options.router !== undefined && !(options.router instanceof Router))
      checkString(options.router, 'options.router (a Router)')
    const tls = options.tls === undefined ? undefined : checkTls(options.tls)
    const logger = options.logger === undefined ? SILENT_LOGGER : checkLogger(options.logger)
    const cors =
      options.cors === undefined || options.cors === false
        ? undefined
        : new Cors(options.cors === true ? {} : options.cors)
    const auth = options.auth === undefined ? undefined : new BasicAuth(options.auth)
    const sse = resolveSseOptions(options.sse, DEFAULT_SSE_OPTIONS, 'options.sse')
    const openPaths = new Set(checkOpenPaths(options.openPaths))
    const resolved = resolveOptions<ResolvedHttpServerOptions>(DEFAULT_HTTP_SERVER_OPTIONS, {
      host: options.host,
      port: options.port,
      maxBodyBytes: options.maxBodyBytes,
      closeTimeoutMs: options.closeTimeoutMs,
      name: options.name,
    })

    const serverOptions = { noDelay: true, keepAlive: true }
    const server =
      tls === undefined
        ? createHttpServer(serverOptions)
        : createHttpsServer({ ...serverOptions, key: tls.key, cert: tls.cert })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(resolved.port, resolved.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    return new HttpServer(server, {
      router: options.router ?? new Router(),
      cors,
      auth,
      openPaths,
      errorStatus: { ...DEFAULT_ERROR_STATUS, ...options.errorStatus },
      logger,
      maxBodyBytes: resolved.maxBodyBytes,
      sse,
      closeTimeoutMs: resolved.closeTimeoutMs,
      name: resolved.name,
      tls: tls !== undefined,
    })
  }

  /** SSE streams open now. */
  get openStreams(): number {
    return this.#streams.size
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const controller = new AbortController()
    this.#requests.add(controller)
    res.once('close', () => {
      this.#requests.delete(controller)
      if (!res.writableFinished)
        controller.abort(new ClosedError('the client went away before the response was complete'))
      // A keep-alive socket that just became idle must not hold a closing server open.
      if (this.state !== 'open') this.#server.closeIdleConnections()
    })
    let ctx: HttpContext | undefined
    try {
      if (this.state !== 'open') {
        res.setHeader('Connection', 'close')
        throw new ClosedError(`${this.lifecycle.name} is closing`)
      }
      const url = parseRequestUrl(req.url)
      this.#cors?.apply(req, res)
      if (this.#cors !== undefined && req.method === 'OPTIONS') {
        this.#cors.preflight(res)
        return
      }
      const user =
        this.#auth === undefined || isOpenPath(this.#openPaths, url.pathname)
          ? undefined
          : await this.#auth.authenticate(req.headers.authorization)
      const readOnly = user !== undefined && this.#auth?.isReadOnly(user) === true
      if (readOnly && !kReadMethods.has(req.method ?? 'GET')) {
        throw new ForbiddenError(`user "${user}" is read-only`, { data: { user } })
      }
      const { handler, params } = this.router.find(req.method ?? 'GET', url.pathname)
      ctx = new HttpContext({ req, res, url, params, user, readOnly, signal: controller.signal }, this.#host)
      await handler(ctx)
      if (!res.headersSent) res.writeHead(204).end()
    } catch (error) {
      this.#answerError(req, res, ctx?.stream, error)
    }
  }

  #answerError(req: IncomingMessage, res: ServerResponse, stream: SseStream | undefined, thrown: unknown): void {
    const error = coerceError(thrown)
    if (!isPulseError(error))
      this.#logger.error({ err: error, method: req.method, url: req.url }, 'HTTP handler failed')
    if (stream !== undefined) {
      stream.fail(isPulseError(error) ? error : new Error('internal error'))
      return
    }
    if (error instanceof UnauthorizedError && this.#auth !== undefined)
      res.setHeader('WWW-Authenticate', this.#auth.challenge)
    if (!req.complete && !req.destroyed) {
      // Drop the unread rest of the body (bounded) so that the answer reaches a client still sending.
      void discardBody(req, this.#host.maxBodyBytes).then((ended) => {
        if (!ended) res.destroy()
      })
    }
    sendError(res, error, this.#errorStatus)
  }

  /** Stops accepting, ends every SSE stream, closes idle connections and waits for requests in flight. */
  protected async onClose(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    for (const stream of this.#streams) stream.end()
    this.#server.closeIdleConnections()
    await stopped
  }

  /** Aborts the requests in flight, ends every SSE stream and drops every connection. */
  protected override onDestroy(reason: Error | undefined): void {
    const why = reason ?? new ClosedError(`${this.lifecycle.name} was destroyed`)
    for (const controller of this.#requests) controller.abort(why)
    for (const stream of this.#streams) stream.end()
    if (this.#server.listening) this.#server.close()
    this.#server.closeAllConnections()
  }
}

/**
 * Whether `pathname` is served without credentials: listed exactly, or under a listed `/prefix/*` (which
 * takes `/prefix` itself too). `pathname` is a parsed URL's: dot segments are already resolved.
 */
export function isOpenPath(openPaths: ReadonlySet<string>, pathname: string): boolean {
  if (openPaths.has(pathname)) return true
  for (const path of openPaths) {
    if (path.endsWith('/*') && (pathname === path.slice(0, -2) || pathname.startsWith(path.slice(0, -1)))) return true
  }
  return false
}

/** The URL of a request target (origin or absolute form); `ProtocolError` (400) when it is not one. */
export function parseRequestUrl(raw: string | undefined): URL {
  const path = raw ?? '/'
  try {
    return new URL(path.startsWith('/') ? `http://host${path}` : path, 'http://host')
  } catch (error) {
    throw new ProtocolError('the request target is not a valid URL', { cause: error })
  }
}
