/**
 * HTTP Basic authentication against a users table.
 *
 * The table comes as the `PULSE_AUTH_USERS` string, `user:secret,user2:secret2` (a user's secret is
 * everything after its first `:`, so it may hold `:` but not `,`; blanks around entries are dropped),
 * or as a record `{ user: secret }`. A secret is a bcrypt hash when it looks like one
 * (`$2a$`/`$2b$`/`$2y$` + cost + 53 characters) and plaintext otherwise.
 *
 * Checking: plaintext is compared in constant time (SHA-256 of both sides, `timingSafeEqual`); a bcrypt
 * hash with bcryptjs. bcrypt costs tens of milliseconds on purpose, which a client making many requests
 * would pay on each, so credentials that passed are remembered — as the SHA-256 of user and password,
 * never the password — in a small bounded cache; failures are never cached. An unknown user costs the
 * same as a known one (a comparison against a stand-in secret), so timing does not tell which users exist.
 */
import { createHash, timingSafeEqual } from 'node:crypto'

import bcrypt from 'bcryptjs'

import { InvalidArgumentError, UnauthorizedError } from '../../runtime/errors.js'
import { checkInteger, checkKnownKeys, checkString } from '../../runtime/options.js'

export interface BasicAuthOptions {
  /** The users: a `PULSE_AUTH_USERS`-style string or `{ user: plaintext | bcrypt hash }`. Required. */
  users: string | Readonly<Record<string, string>>
  /** The realm named in `WWW-Authenticate`. @default 'pulse' */
  realm?: string
  /** How many verified bcrypt credentials are remembered. @default 1024 */
  cacheSize?: number
}

const kBcryptHash = /^\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}$/

export function isBcryptHash(secret: string): boolean {
  return kBcryptHash.test(secret)
}

/**
 * Parses a users table; throws `InvalidArgumentError` naming `name` and the entry's position (never its
 * secret) for an entry without `:`, an empty user or secret, or a user given twice.
 */
export function parseUsers(
  users: string | Readonly<Record<string, string>>,
  name = 'options.auth.users',
): Map<string, string> {
  const entries: [string, string][] = []
  if (typeof users === 'string') {
    users.split(',').forEach((raw, i) => {
      const entry = raw.trim()
      if (entry === '') return
      const colon = entry.indexOf(':')
      if (colon <= 0 || colon === entry.length - 1) {
        throw new InvalidArgumentError(`${name}: entry ${i + 1} must be user:password or user:bcrypt-hash`, {
          data: { option: name, entry: i + 1 },
        })
      }
      entries.push([entry.slice(0, colon), entry.slice(colon + 1)])
    })
  } else if (typeof users === 'object' && users !== null) {
    for (const [user, secret] of Object.entries(users)) {
      checkString(secret, `${name}.${user}`, { nonEmpty: true })
      if (user === '' || user.includes(':'))
        throw new InvalidArgumentError(`${name}: a user name must be non-empty without ":"`, { data: { option: name } })
      entries.push([user, secret])
    }
  } else {
    checkString(users, `${name} (a string or a record)`)
  }
  const table = new Map<string, string>()
  for (const [user, secret] of entries) {
    if (table.has(user))
      throw new InvalidArgumentError(`${name}: user "${user}" is given twice`, { data: { option: name, user } })
    table.set(user, secret)
  }
  if (table.size === 0)
    throw new InvalidArgumentError(`${name} must name at least one user`, { data: { option: name } })
  return table
}

/** The user and password of a `Basic` Authorization header, or undefined when it is not one. */
export function parseBasicAuthorization(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined) return undefined
  const match = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
  if (match === null) return undefined
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

function sha256(...parts: string[]): Buffer {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part).update('\0')
  return hash.digest()
}

/** The users a table marks read-only (a trailing `:ro`), and the table with those marks removed. */
export function splitReadOnly(users: Map<string, string>): { users: Map<string, string>; readOnly: Set<string> } {
  const readOnly = new Set<string>()
  const plain = new Map<string, string>()
  for (const [user, secret] of users) {
    const marked = secret.endsWith(':ro') && secret.length > 3
    if (marked) readOnly.add(user)
    plain.set(user, marked ? secret.slice(0, -3) : secret)
  }
  return { users: plain, readOnly }
}

export class BasicAuth {
  /** The `WWW-Authenticate` value of a 401. */
  readonly challenge: string
  readonly #users: Map<string, string>
  readonly #readOnly: Set<string>
  readonly #cacheSize: number
  /** SHA-256 (hex) of user and password that passed a bcrypt check; insertion order = age. */
  readonly #verified = new Set<string>()
  readonly #standIn: string

  constructor(options: BasicAuthOptions, path = 'options.auth') {
    checkKnownKeys(options, ['users', 'realm', 'cacheSize'], path)
    const { users, readOnly } = splitReadOnly(parseUsers(options.users, `${path}.users`))
    this.#users = users
    this.#readOnly = readOnly
    const realm =
      options.realm === undefined ? 'pulse' : checkString(options.realm, `${path}.realm`, { pattern: /^[^"\\\r\n]*$/ })
    this.#cacheSize =
      options.cacheSize === undefined ? 1024 : checkInteger(options.cacheSize, `${path}.cacheSize`, { min: 0 })
    this.challenge = `Basic realm="${realm}", charset="UTF-8"`
    // The stand-in an unknown user is checked against: a bcrypt hash when the table has one.
    this.#standIn = [...this.#users.values()].find(isBcryptHash) ?? 'stand-in secret'
  }

  get userCount(): number {
    return this.#users.size
  }

  /** Whether `user` is marked read-only. */
  isReadOnly(user: string): boolean {
    return this.#readOnly.has(user)
  }

  /** The authenticated user of an Authorization header, or undefined. */
  async verify(authorization: string | undefined): Promise<string | undefined> {
    const credentials = parseBasicAuthorization(authorization)
    if (credentials === undefined) return undefined
    return this.verifyPassword(credentials.user, credentials.password)
  }

  /** `user` when `password` is theirs (a sign-in form's check), or undefined; same cost for unknown users. */
  async verifyPassword(user: string, password: string): Promise<string | undefined> {
    const secret = this.#users.get(user)
    const ok = await this.#check(user, password, secret ?? this.#standIn)
    return ok && secret !== undefined ? user : undefined
  }

  /** `verify`, throwing `UnauthorizedError` (401) instead of returning undefined. */
  async authenticate(authorization: string | undefined): Promise<string> {
    const user = await this.verify(authorization)
    if (user === undefined) {
      throw new UnauthorizedError(authorization === undefined ? 'authentication required' : 'invalid credentials')
    }
    return user
  }

  async #check(user: string, password: string, secret: string): Promise<boolean> {
    if (!isBcryptHash(secret)) return timingSafeEqual(sha256(password), sha256(secret))
    const key = sha256(user, password, secret).toString('hex')
    if (this.#verified.has(key)) return true
    const ok = await bcrypt.compare(password, secret)
    if (ok && this.#cacheSize > 0) {
      if (this.#verified.size >= this.#cacheSize) this.#verified.delete(this.#verified.values().next().value as string)
      this.#verified.add(key)
    }
    return ok
  }
}
