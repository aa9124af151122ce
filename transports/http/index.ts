/** The HTTP transport: a server with routes, JSON bodies, CORS, Basic auth and SSE streams; errors as statuses. */
export { BasicAuth, type BasicAuthOptions, isBcryptHash, parseBasicAuthorization, parseUsers } from './auth.js'
export { discardBody, readBody, readJson } from './body.js'
export { type ContextHost, HttpContext } from './context.js'
export { Cors, type CorsOptions, DEFAULT_CORS_OPTIONS, type ResolvedCorsOptions } from './cors.js'
export {
  allowedMethods,
  DEFAULT_ERROR_STATUS,
  errorBody,
  errorFromBody,
  type ErrorStatusTable,
  type HttpErrorBody,
  httpStatusOf,
  sendError,
} from './errors.js'
export { type HttpHandler, type RouteMatch, Router } from './router.js'
export {
  DEFAULT_HTTP_SERVER_OPTIONS,
  HttpServer,
  type HttpServerOptions,
  type ResolvedHttpServerOptions,
  type TlsOptions,
} from './server.js'
export {
  DEFAULT_SSE_OPTIONS,
  encodeSseMessage,
  lastEventIdOf,
  type ResolvedSseOptions,
  resolveSseOptions,
  type SseMessage,
  type SseOptions,
  SseStream,
} from './sse.js'
