/**
 * `Dashboard`: the web dashboard, mounted on a `transports/http` router under a prefix (`/ui`), built on
 * the features' public API. Pages are server-rendered (`html.ts` escapes every value); htmx, uPlot and
 * the dashboard's script come from `assets.ts`.
 *
 * Every request under the prefix goes through, in order: the security headers (a strict
 * Content-Security-Policy: scripts, styles and connections from this origin only; no framing), the
 * session (`session.ts`: with auth on, no valid session redirects a page to the sign-in form and
 * answers 401 to anything else), then for actions (any method but GET/HEAD) the CSRF token and the role
 * (a read-only user gets 403). Actions are written to the audit log as the session's user (`anonymous`
 * without auth) and answer with a redirect back to a page (`303`), so they work without JavaScript.
 */
import type { Bus } from '../actors/bus/index.js'
import type { JobQueue } from '../actors/jobs/index.js'
import type { Runtime } from '../runtime/index.js'
import { ForbiddenError, isPulseError, UnauthorizedError } from '../runtime/errors.js'
import { type BasicAuth, type HttpContext, httpStatusOf, type Router } from '../transports/http/index.js'
import type { PulseRedis } from '../transports/redis/index.js'
import { serveAsset } from './assets.js'
import { html, type SafeHtml } from './html.js'
import { layout, loginPage } from './layout.js'
import type { PageDeps, PageRequest, PageResult, PageRoute } from './page.js'
import { PAGES } from './pages/index.js'
import { parseCookies, type Session, SESSION_COOKIE, sessionCookie, SessionKeys } from './session.js'

export interface DashboardOptions {
  /** The job queue the jobs pages show; without one they say so. */
  queue?: JobQueue | undefined
  /** Redis, for the streams, pools and maps pages. */
  redis?: PulseRedis | undefined
  /** The bus, when the server has one. */
  bus?: Bus | undefined
  /** A runtime in this process, for the runtime page. */
  runtime?: Runtime | undefined
  /** The users (as the server's Basic auth); without it there is no sign-in and everyone may act. */
  auth?: BasicAuth | undefined
  /** Signs the session cookies. @default random per process */
  sessionSecret?: string | undefined
  /** @default '/ui' */
  prefix?: string
}

const kCsp = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "form-action 'self'",
  "base-uri 'none'",
  "object-src 'none'",
].join('; ')

const kSecurityHeaders = {
  'Content-Security-Policy': kCsp,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
}

export class Dashboard {
  readonly prefix: string
  readonly #keys: SessionKeys
  readonly #auth: BasicAuth | undefined
  readonly #deps: PageDeps

  constructor(options: DashboardOptions = {}) {
    this.prefix = options.prefix ?? '/ui'
    this.#keys = new SessionKeys(options.sessionSecret)
    this.#auth = options.auth
    this.#deps = { queue: options.queue, redis: options.redis, bus: options.bus, runtime: options.runtime }
  }

  /** Adds the dashboard's routes; the server must let `<prefix>/*` through its Basic auth (`openPaths`). */
  mount(router: Router): void {
    const p = this.prefix
    router.get(`${p}/assets/:file`, (ctx) => serveAsset(ctx))
    router.get(`${p}/login`, (ctx) => this.#loginForm(ctx, undefined))
    router.on('POST', `${p}/login`, (ctx) => this.#login(ctx))
    router.on('POST', `${p}/logout`, (ctx) => this.#logout(ctx))
    for (const route of PAGES) {
      router.on(route.method, `${p}${route.path}`, (ctx) => this.#serve(ctx, route))
    }
  }

  #secure(ctx: HttpContext): boolean {
    return ctx.url.protocol === 'https:' || 'encrypted' in ctx.req.socket
  }

  #session(ctx: HttpContext): Session | undefined {
    return this.#keys.open(parseCookies(ctx.req.headers.cookie).get(SESSION_COOKIE))
  }

  async #serve(ctx: HttpContext, route: PageRoute): Promise<void> {
    try {
      await this.#serveChecked(ctx, route)
    } catch (error) {
      // A browser gets the error as a page; a script (or a stream already started) as the server answers it.
      if (ctx.res.headersSent || !(ctx.req.headers.accept ?? '').includes('text/html')) throw error
      const session = this.#session(ctx)
      const page = layout({
        prefix: this.prefix,
        title: 'Error',
        section: route.section,
        csrf: session === undefined ? '' : this.#keys.csrfToken(session),
        user: session?.user,
        readOnly: session?.readOnly ?? false,
        body: errorBody(error),
      })
      ctx.send(httpStatusOf(error), page.text, { ...kSecurityHeaders, 'Content-Type': 'text/html; charset=utf-8' })
    }
  }

  async #serveChecked(ctx: HttpContext, route: PageRoute): Promise<void> {
    const started = performance.now()
    let session = this.#session(ctx)
    const extra: Record<string, string> = {}
    if (session === undefined || (this.#auth !== undefined && session.user === undefined)) {
      if (this.#auth !== undefined) {
        if (route.method === 'GET' && !route.live) {
          const next = encodeURIComponent(ctx.url.pathname + ctx.url.search)
          ctx.send(303, undefined, { Location: `${this.prefix}/login?next=${next}`, ...kSecurityHeaders })
          return
        }
        throw new UnauthorizedError('sign in first')
      }
      session = this.#keys.create(undefined, false)
      extra['Set-Cookie'] = sessionCookie(this.#keys.seal(session), this.#secure(ctx), this.prefix)
    }
    let form: URLSearchParams | undefined
    const readForm = async () => (form ??= new URLSearchParams((await ctx.readBody()).toString('utf8')))
    if (route.method !== 'GET') {
      const token =
        (ctx.req.headers['x-csrf-token'] as string | undefined) ?? (await readForm()).get('_csrf') ?? undefined
      if (!this.#keys.checkCsrf(session, token))
        throw new ForbiddenError('missing or wrong CSRF token; reload the page')
      if (session.readOnly) throw new ForbiddenError(`user "${session.user ?? ''}" is read-only`)
    }
    const csrf = this.#keys.csrfToken(session)
    const request: PageRequest = {
      ctx,
      session,
      csrf,
      prefix: this.prefix,
      deps: this.#deps,
      actor: session.user ?? 'anonymous',
      form: readForm,
    }
    const result = await route.handler(request)
    if (result === undefined) return
    // The server's own time for the page (the scale benchmark reads it): Server-Timing, in ms.
    extra['Server-Timing'] = `app;dur=${(performance.now() - started).toFixed(1)}`
    this.#answer(ctx, request, route, result, extra)
  }

  #answer(ctx: HttpContext, req: PageRequest, route: PageRoute, result: PageResult, extra: Record<string, string>) {
    const headers = { ...kSecurityHeaders, ...extra }
    if ('location' in result) {
      ctx.send(303, undefined, { ...headers, Location: result.location })
      return
    }
    const body =
      'fragment' in result
        ? result.fragment
        : layout({
            prefix: this.prefix,
            title: result.title,
            section: result.section ?? route.section,
            csrf: req.csrf,
            user: req.session.user,
            readOnly: req.session.readOnly,
            body: result.body,
          })
    const status = 'status' in result && result.status !== undefined ? result.status : 200
    ctx.send(status, body.text, { ...headers, 'Content-Type': 'text/html; charset=utf-8' })
  }

  #loginForm(ctx: HttpContext, error: string | undefined): void {
    if (this.#auth === undefined) {
      ctx.send(303, undefined, { Location: `${this.prefix}/`, ...kSecurityHeaders })
      return
    }
    // The form's own CSRF token rides on a pre-session cookie, so a login cannot be forged cross-site.
    const pre = this.#session(ctx) ?? this.#keys.create(undefined, false)
    const next = safeNext(ctx.url.searchParams.get('next'), this.prefix)
    const page = loginPage(this.prefix, this.#keys.csrfToken(pre), error, next)
    ctx.send(200, page.text, {
      ...kSecurityHeaders,
      'Content-Type': 'text/html; charset=utf-8',
      'Set-Cookie': sessionCookie(this.#keys.seal(pre), this.#secure(ctx), this.prefix),
    })
  }

  async #login(ctx: HttpContext): Promise<void> {
    const form = new URLSearchParams((await ctx.readBody()).toString('utf8'))
    const pre = this.#session(ctx)
    if (this.#auth === undefined || pre === undefined || !this.#keys.checkCsrf(pre, form.get('_csrf') ?? undefined)) {
      throw new ForbiddenError('missing or wrong CSRF token; reload the sign-in page')
    }
    const user = await this.#auth.verifyPassword(form.get('user') ?? '', form.get('password') ?? '')
    if (user === undefined) {
      this.#loginForm(ctx, 'Wrong user or password.')
      return
    }
    const session = this.#keys.create(user, this.#auth.isReadOnly(user))
    ctx.send(303, undefined, {
      ...kSecurityHeaders,
      Location: safeNext(form.get('next'), this.prefix),
      'Set-Cookie': sessionCookie(this.#keys.seal(session), this.#secure(ctx), this.prefix),
    })
  }

  async #logout(ctx: HttpContext): Promise<void> {
    const form = new URLSearchParams((await ctx.readBody()).toString('utf8'))
    const session = this.#session(ctx)
    if (session === undefined || !this.#keys.checkCsrf(session, form.get('_csrf') ?? undefined)) {
      throw new ForbiddenError('missing or wrong CSRF token')
    }
    ctx.send(303, undefined, {
      ...kSecurityHeaders,
      Location: `${this.prefix}/login`,
      'Set-Cookie': sessionCookie(undefined, this.#secure(ctx), this.prefix),
    })
  }
}

/**
 * A local path under the prefix to go to after sign-in; anything else (another origin, or characters a
 * `Location` header cannot carry: the paths the dashboard links to are percent-encoded ASCII) goes home.
 */
function safeNext(next: string | null, prefix: string): string {
  return next !== null && next.startsWith(`${prefix}/`) && !next.startsWith('//') && /^[\x21-\x7e]*$/.test(next)
    ? next
    : `${prefix}/`
}

/** The page of an error a page handler threw: its message in the layout, with the status of its code. */
export function errorBody(error: unknown): SafeHtml {
  const message = isPulseError(error) ? `${error.code}: ${error.message}` : 'internal error'
  return html`<p class="error" role="alert">${message}</p>`
}
