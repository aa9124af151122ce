/**
 * CORS. With `origins: '*'` every response carries the CORS headers, as ella.to/bus does; with a list,
 * only responses to a listed `Origin`, which is echoed back (with `Vary: Origin`). Any `OPTIONS`
 * request is a preflight and is answered 204 before authentication: browsers send preflights without
 * credentials.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

import { InvalidArgumentError } from '../../runtime/errors.js'
import { checkBoolean, checkInteger, checkKnownKeys, checkString, resolveOptions } from '../../runtime/options.js'

export interface CorsOptions {
  /** `'*'`, or the origins allowed (`'https://app.example'`). @default '*' */
  origins?: '*' | readonly string[]
  /** `Access-Control-Allow-Methods`. @default ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'] */
  methods?: readonly string[]
  /** `Access-Control-Allow-Headers`. @default ['Content-Type', 'Authorization', 'Last-Event-ID'] */
  allowHeaders?: readonly string[]
  /** `Access-Control-Expose-Headers` (response headers a page may read). @default [] */
  exposeHeaders?: readonly string[]
  /** `Access-Control-Allow-Credentials: true`; the origin is then echoed even with `'*'`. @default false */
  credentials?: boolean
  /** `Access-Control-Max-Age` of preflights, in seconds. @default 600 */
  maxAgeSeconds?: number
}

export type ResolvedCorsOptions = Required<CorsOptions>

export const DEFAULT_CORS_OPTIONS = {
  origins: '*',
  methods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
  allowHeaders: ['Content-Type', 'Authorization', 'Last-Event-ID'],
  exposeHeaders: [],
  credentials: false,
  maxAgeSeconds: 600,
} as const satisfies ResolvedCorsOptions

function checkStrings(value: unknown, name: string): readonly string[] {
  if (!Array.isArray(value)) {
    throw new InvalidArgumentError(`${name} must be an array of strings (got ${typeof value})`, {
      data: { option: name },
    })
  }
  value.forEach((item: unknown, i) => checkString(item, `${name}[${i}]`, { nonEmpty: true }))
  return value as readonly string[]
}

export class Cors {
  readonly options: Readonly<ResolvedCorsOptions>
  readonly #common: [string, string][]

  constructor(options: CorsOptions = {}, path = 'options.cors') {
    checkKnownKeys(options, Object.keys(DEFAULT_CORS_OPTIONS), path)
    if (options.origins !== undefined && options.origins !== '*') checkStrings(options.origins, `${path}.origins`)
    if (options.methods !== undefined) checkStrings(options.methods, `${path}.methods`)
    if (options.allowHeaders !== undefined) checkStrings(options.allowHeaders, `${path}.allowHeaders`)
    if (options.exposeHeaders !== undefined) checkStrings(options.exposeHeaders, `${path}.exposeHeaders`)
    if (options.credentials !== undefined) checkBoolean(options.credentials, `${path}.credentials`)
    if (options.maxAgeSeconds !== undefined) checkInteger(options.maxAgeSeconds, `${path}.maxAgeSeconds`, { min: 0 })
    this.options = resolveOptions<ResolvedCorsOptions>(DEFAULT_CORS_OPTIONS, options)
    const { methods, allowHeaders, exposeHeaders, credentials } = this.options
    this.#common = [
      ['Access-Control-Allow-Methods', methods.join(', ')],
      ['Access-Control-Allow-Headers', allowHeaders.join(', ')],
      ...(exposeHeaders.length > 0
        ? [['Access-Control-Expose-Headers', exposeHeaders.join(', ')] as [string, string]]
        : []),
      ...(credentials ? [['Access-Control-Allow-Credentials', 'true'] as [string, string]] : []),
    ]
  }

  /** The `Access-Control-Allow-Origin` value for this request, or undefined when its origin is not allowed. */
  allowOrigin(req: IncomingMessage): string | undefined {
    const origin = req.headers.origin
    const { origins, credentials } = this.options
    if (origins === '*') return credentials && origin !== undefined ? origin : '*'
    return origin !== undefined && origins.includes(origin) ? origin : undefined
  }

  /** Sets the CORS headers of every response to `req` (none when its origin is not allowed). */
  apply(req: IncomingMessage, res: ServerResponse): void {
    const allow = this.allowOrigin(req)
    if (allow === undefined) return
    res.setHeader('Access-Control-Allow-Origin', allow)
    if (allow !== '*') res.appendHeader('Vary', 'Origin')
    for (const [name, value] of this.#common) res.setHeader(name, value)
  }

  /** Answers a preflight: 204 with the CORS headers (already applied) and `Access-Control-Max-Age`. */
  preflight(res: ServerResponse): void {
    if (res.hasHeader('Access-Control-Allow-Origin'))
      res.setHeader('Access-Control-Max-Age', String(this.options.maxAgeSeconds))
    res.writeHead(204).end()
  }
}
