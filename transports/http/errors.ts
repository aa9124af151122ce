/**
 * Errors over HTTP: a `PulseError` becomes a status (by its `code`, from a table the caller may
 * extend) and a JSON body `{ code, message, name, data? }` that a client turns back into the same class
 * with `errorFromBody` (`fromWire`; it also reads the `{ "error": { … } }` body of servers before 0.2). Anything that is not a `PulseError` is an
 * unexpected failure: it is answered 500 `PULSE_ERR_INTERNAL` with a generic message, so internals
 * never leak to the client (the server logs it).
 */
import type { ServerResponse } from 'node:http'

import type { ErrorCode, ErrorData } from '../../runtime/errors.js'
import { fromWire, isErrorCode, isPulseError, isWireError, PulseError } from '../../runtime/errors.js'

/** HTTP status by error code; codes not listed are 500. */
export type ErrorStatusTable = Readonly<Partial<Record<ErrorCode, number>>>

export const DEFAULT_ERROR_STATUS: ErrorStatusTable = Object.freeze({
  PULSE_ERR_INVALID_ARG: 400,
  PULSE_ERR_PROTOCOL: 400,
  PULSE_ERR_HTTP_UNAUTHORIZED: 401,
  PULSE_ERR_HTTP_FORBIDDEN: 403,
  PULSE_ERR_HTTP_NO_ROUTE: 404,
  PULSE_ERR_HTTP_BODY_TOO_LARGE: 413,
  PULSE_ERR_CLOSED: 503,
  PULSE_ERR_REDIS_CONNECTION: 503,
  PULSE_ERR_PG_CONNECTION: 503,
  PULSE_ERR_TIMEOUT: 504,
})

export interface HttpErrorBody {
  readonly code: ErrorCode
  readonly message: string
  readonly name: string
  readonly data?: ErrorData
}

/** The methods a `NoRouteError` says the path takes (its 405 case), if any. */
export function allowedMethods(error: unknown): readonly string[] | undefined {
  if (!isPulseError(error) || error.code !== 'PULSE_ERR_HTTP_NO_ROUTE') return undefined
  const allow = error.data?.allow
  return Array.isArray(allow) && allow.length > 0 ? allow.filter((m): m is string => typeof m === 'string') : undefined
}

/** The status of `error`: `table` (over the defaults) by code; 405 for a `NoRouteError` with `data.allow`. */
export function httpStatusOf(error: unknown, table: ErrorStatusTable = DEFAULT_ERROR_STATUS): number {
  if (!isPulseError(error)) return 500
  if (allowedMethods(error) !== undefined) return 405
  return table[error.code] ?? DEFAULT_ERROR_STATUS[error.code] ?? 500
}

/** The JSON body for `error`; a non-Pulse error is reported as `PULSE_ERR_INTERNAL` "internal error". */
export function errorBody(error: unknown): HttpErrorBody {
  if (!isPulseError(error)) return { code: 'PULSE_ERR_INTERNAL', message: 'internal error', name: 'PulseError' }
  const { name, code, message, data } = error
  return { code, message, name, ...(data === undefined ? {} : { data }) }
}

/**
 * Answers `error` on `res`: the status and JSON body above (plus `Allow` for a 405), keeping headers
 * already set (CORS, `WWW-Authenticate`). When the response has already started, it can only be cut:
 * the socket is destroyed.
 */
export function sendError(res: ServerResponse, error: unknown, table: ErrorStatusTable = DEFAULT_ERROR_STATUS): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = JSON.stringify(errorBody(error))
  const allow = allowedMethods(error)
  if (allow !== undefined) res.setHeader('Allow', allow.join(', '))
  res.writeHead(httpStatusOf(error, table), {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  })
  res.end(body)
}

/**
 * The error a client rebuilds from an error response: the class of the body's `code` (`fromWire`),
 * or, for a body that is not ours (a proxy's page, another service's JSON error: no Pulse code, no
 * name or message), a `PulseError` `PULSE_ERR_INTERNAL` naming the status.
 */
export function errorFromBody(status: number, body: unknown): Error {
  const nested = (body as { error?: unknown } | null | undefined)?.error
  const record = typeof nested === 'object' && nested !== null ? nested : body
  if (isWireError(record) && isErrorCode(record.code)) return fromWire(record)
  return new PulseError('PULSE_ERR_INTERNAL', `HTTP ${status} without a Pulse error body`, { data: { status } })
}
