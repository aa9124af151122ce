/**
 * Dashboard sessions: a signed cookie, no server-side store.
 *
 *   pulse_session = base64url(JSON { u: user, ro: readOnly, exp: ms, n: nonce }) "." base64url(HMAC-SHA256)
 *
 * The cookie is HttpOnly, SameSite=Strict, Path=/ui, Secure over HTTPS, and expires with the session
 * (8 hours). Without auth every visitor gets an anonymous session, so that actions still carry a CSRF
 * token. The CSRF token is HMAC(secret, "csrf:" + nonce): a page embeds it (a `<meta>` that htmx sends
 * as `X-CSRF-Token`, and a hidden `_csrf` field in plain forms), and every action must present it; a
 * forged cross-site request cannot read it. The secret is random per server process unless given, so a
 * restart signs everyone out.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const SESSION_COOKIE = 'pulse_session'
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000

export interface Session {
  /** The signed-in user; `undefined` for the anonymous session of a dashboard without auth. */
  readonly user: string | undefined
  readonly readOnly: boolean
  readonly expiresAt: number
  readonly nonce: string
}

export class SessionKeys {
  readonly #secret: Buffer

  constructor(secret: string | Buffer = randomBytes(32)) {
    this.#secret = typeof secret === 'string' ? Buffer.from(secret) : secret
  }

  #mac(text: string): string {
    return createHmac('sha256', this.#secret).update(text).digest('base64url')
  }

  create(user: string | undefined, readOnly: boolean, now = Date.now()): Session {
    return { user, readOnly, expiresAt: now + SESSION_TTL_MS, nonce: randomBytes(16).toString('base64url') }
  }

  /** The cookie's value for `session`. */
  seal(session: Session): string {
    const body = Buffer.from(
      JSON.stringify({ u: session.user ?? null, ro: session.readOnly, exp: session.expiresAt, n: session.nonce }),
    ).toString('base64url')
    return `${body}.${this.#mac(body)}`
  }

  /** The session of a cookie value, or `undefined` when it is forged, malformed or expired. */
  open(value: string | undefined, now = Date.now()): Session | undefined {
    if (value === undefined) return undefined
    const [body, mac] = value.split('.')
    if (body === undefined || mac === undefined || !equal(mac, this.#mac(body))) return undefined
    try {
      const parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>
      const { u, ro, exp, n } = parsed
      if ((typeof u !== 'string' && u !== null) || typeof ro !== 'boolean' || typeof exp !== 'number') return undefined
      if (typeof n !== 'string' || exp <= now) return undefined
      return { user: u ?? undefined, readOnly: ro, expiresAt: exp, nonce: n }
    } catch {
      return undefined
    }
  }

  csrfToken(session: Session): string {
    return this.#mac(`csrf:${session.nonce}`)
  }

  checkCsrf(session: Session, token: string | undefined): boolean {
    return token !== undefined && equal(token, this.csrfToken(session))
  }
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** The cookies of a `Cookie` header. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>()
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0) cookies.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim())
  }
  return cookies
}

/** The `Set-Cookie` value of a session (or of its removal, with `value` undefined). */
export function sessionCookie(value: string | undefined, secure: boolean, prefix: string): string {
  const attributes = [`Path=${prefix}`, 'HttpOnly', 'SameSite=Strict', ...(secure ? ['Secure'] : [])]
  if (value === undefined) return [`${SESSION_COOKIE}=`, 'Max-Age=0', ...attributes].join('; ')
  return [`${SESSION_COOKIE}=${value}`, `Max-Age=${SESSION_TTL_MS / 1000}`, ...attributes].join('; ')
}
