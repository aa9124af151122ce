/** Basic auth: the users table, the Authorization header, read-only users, and the checks of passwords. */
import bcrypt from 'bcryptjs'
import { describe, expect, it } from 'vitest'

import { UnauthorizedError } from '../../../runtime/errors.js'
import { BasicAuth, isBcryptHash, parseBasicAuthorization, parseUsers } from '../../../transports/http/index.js'

const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`
/** Matches a refusal naming `option` (an asymmetric matcher, typed for `toThrow`). */
const invalid = (option: string): Error =>
  expect.objectContaining({
    code: 'PULSE_ERR_INVALID_ARG',
    data: expect.objectContaining({ option }) as object,
  }) as Error

describe('the users table', () => {
  it('reads user:secret entries, the secret being everything after the first colon; blanks dropped', () => {
    expect([...parseUsers(' alice:pw , bob:a:b:c ,,')]).toEqual([
      ['alice', 'pw'],
      ['bob', 'a:b:c'],
    ])
    expect([...parseUsers({ carol: 'x' })]).toEqual([['carol', 'x']])
  })

  it('refuses a malformed entry by its position, never echoing a secret', () => {
    for (const [table, entry] of [
      ['alice', 1],
      ['alice:pw,:secret', 2],
      ['alice:pw,bob:', 2],
    ] as const) {
      const error = (() => {
        try {
          parseUsers(table)
        } catch (e) {
          return e as Error & { data: { entry: number } }
        }
        throw new Error('accepted')
      })()
      expect(error.data.entry).toBe(entry)
      expect(error.message).not.toContain('secret')
    }
  })

  it('refuses a user given twice, an empty table, a bad record and what is neither', () => {
    expect(() => parseUsers('a:1,a:2')).toThrow('user "a" is given twice')
    expect(() => parseUsers(' , ')).toThrow(/at least one user/)
    expect(() => parseUsers({})).toThrow(/at least one user/)
    expect(() => parseUsers({ 'a:b': 'x' })).toThrow(/without ":"/)
    expect(() => parseUsers({ a: '' })).toThrow(invalid('options.auth.users.a'))
    expect(() => parseUsers(42 as never, 'PULSE_AUTH_USERS')).toThrow(
      invalid('PULSE_AUTH_USERS (a string or a record)'),
    )
  })

  it('tells bcrypt hashes from plaintext', () => {
    expect(isBcryptHash(bcrypt.hashSync('pw', 4))).toBe(true)
    expect(isBcryptHash('$2b$04$short')).toBe(false)
    expect(isBcryptHash('plain')).toBe(false)
  })
})

describe('the Authorization header', () => {
  it('gives user and password of Basic credentials, any case of the scheme, colons kept in the password', () => {
    expect(parseBasicAuthorization(basic('alice:p:w'))).toEqual({ user: 'alice', password: 'p:w' })
    expect(parseBasicAuthorization(`basic   ${Buffer.from('a:').toString('base64')}  `)).toEqual({
      user: 'a',
      password: '',
    })
    expect(parseBasicAuthorization(basic('é:ü'))).toEqual({ user: 'é', password: 'ü' })
  })

  it('gives nothing for another scheme, no colon, bad base64 or no header', () => {
    for (const header of [undefined, '', 'Bearer abc', basic('nocolon'), 'Basic !!!', 'Basic', 'Basic a b']) {
      expect(parseBasicAuthorization(header)).toBeUndefined()
    }
  })
})

describe('BasicAuth', () => {
  it('lets in the right plaintext and bcrypt passwords only, the same way for unknown users', async () => {
    const auth = new BasicAuth({ users: { alice: 'wonder', bob: bcrypt.hashSync('builder', 4) } })
    expect(await auth.verify(basic('alice:wonder'))).toBe('alice')
    expect(await auth.verify(basic('bob:builder'))).toBe('bob')
    expect(await auth.verify(basic('bob:builder'))).toBe('bob') // from the cache of verified credentials
    expect(await auth.verify(basic('alice:Wonder'))).toBeUndefined()
    expect(await auth.verify(basic('bob:wonder'))).toBeUndefined()
    expect(await auth.verify(basic('mallory:builder'))).toBeUndefined()
    expect(await auth.verify(basic('alice:wonderland'))).toBeUndefined()
  })

  it('authenticate throws UnauthorizedError saying whether credentials were missing or wrong', async () => {
    const auth = new BasicAuth({ users: 'alice:wonder' })
    await expect(auth.authenticate(undefined)).rejects.toThrow(new UnauthorizedError('authentication required'))
    await expect(auth.authenticate(basic('alice:no'))).rejects.toThrow('invalid credentials')
    await expect(auth.authenticate('Bearer x')).rejects.toMatchObject({ code: 'PULSE_ERR_HTTP_UNAUTHORIZED' })
  })

  it('marks users whose secret ends in :ro read-only, and checks them without the mark', async () => {
    const auth = new BasicAuth({ users: 'viewer:look:ro,admin:all' })
    expect(auth.isReadOnly('viewer')).toBe(true)
    expect(auth.isReadOnly('admin')).toBe(false)
    expect(await auth.verify(basic('viewer:look'))).toBe('viewer')
    expect(await auth.verify(basic('viewer:look:ro'))).toBeUndefined()
    expect(new BasicAuth({ users: 'x::ro' }).isReadOnly('x')).toBe(false) // ':ro' alone is the secret
  })

  it('names its realm in the challenge and refuses a realm that would break the header', () => {
    expect(new BasicAuth({ users: 'a:b', realm: 'ops' }).challenge).toBe('Basic realm="ops", charset="UTF-8"')
    expect(() => new BasicAuth({ users: 'a:b', realm: 'a"b' })).toThrow(invalid('options.auth.realm'))
    expect(() => new BasicAuth({ users: 'a:b', realm: 'a\r\nX: y' })).toThrow(invalid('options.auth.realm'))
    expect(() => new BasicAuth({ users: 'a:b', cacheSize: -1 })).toThrow(invalid('options.auth.cacheSize'))
    expect(() => new BasicAuth({ users: 'a:b', extra: 1 } as never)).toThrow(invalid('options.auth.extra'))
  })
})
