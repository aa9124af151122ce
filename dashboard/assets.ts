/**
 * The dashboard's static files, all served from the package (no CDN: it works offline): htmx and uPlot
 * from their npm packages, and the dashboard's own stylesheet and script (`assets/`). Each is read once,
 * served with its content type, a strong ETag and a day of caching.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

import { NoRouteError } from '../runtime/errors.js'
import type { HttpContext } from '../transports/http/index.js'
import { DASHBOARD_SCRIPT } from './assets/script.js'
import { DASHBOARD_STYLE } from './assets/style.js'

interface Asset {
  readonly body: Buffer
  readonly type: string
  readonly etag: string
}

const require = createRequire(import.meta.url)

function asset(body: string | Buffer, type: string): Asset {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body
  return { body: bytes, type, etag: `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 22)}"` }
}

function fromPackage(specifier: string, type: string): () => Asset {
  let cached: Asset | undefined
  return () => (cached ??= asset(readFileSync(require.resolve(specifier)), type))
}

const kAssets: Readonly<Record<string, () => Asset>> = {
  'htmx.min.js': fromPackage('htmx.org/dist/htmx.min.js', 'text/javascript; charset=utf-8'),
  'uPlot.min.js': fromPackage('uplot/dist/uPlot.iife.min.js', 'text/javascript; charset=utf-8'),
  'uPlot.min.css': fromPackage('uplot/dist/uPlot.min.css', 'text/css; charset=utf-8'),
  'dashboard.js': () => asset(DASHBOARD_SCRIPT, 'text/javascript; charset=utf-8'),
  'dashboard.css': () => asset(DASHBOARD_STYLE, 'text/css; charset=utf-8'),
}

export const ASSET_NAMES = Object.keys(kAssets)

/** Serves the asset named by the route's `:file`. */
export function serveAsset(ctx: HttpContext): void {
  const load = kAssets[ctx.params.file ?? '']
  if (load === undefined || !Object.hasOwn(kAssets, ctx.params.file ?? '')) {
    throw new NoRouteError(`no asset ${ctx.params.file ?? ''}`, { data: { path: ctx.url.pathname } })
  }
  const { body, type, etag } = load()
  if (ctx.req.headers['if-none-match'] === etag) {
    ctx.send(304, undefined, { ETag: etag })
    return
  }
  ctx.send(200, body, { 'Content-Type': type, ETag: etag, 'Cache-Control': 'public, max-age=86400' })
}
