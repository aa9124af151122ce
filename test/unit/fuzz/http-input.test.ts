/**
 * Fuzzing the decoders behind the HTTP surfaces, without a server: the bus's publish bodies and event
 * records (actors/bus/record.ts: a hand-written scanner beside JSON.parse), Go durations, subjects and
 * patterns (actors/bus/subject.ts) over all of Unicode, SSE framing, Basic credentials, the router's
 * path parameters, error bodies (transports/http/) and the dashboard's session cookies. Each reads its
 * input or refuses it with a `PulseError`; what it reads agrees with JSON.parse and round-trips.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { encodeRecord, parseGoDuration, parsePublishBody, parseRecord, scanObject } from '../../../actors/bus/record.js'
import {
  checkPattern,
  checkSubject,
  compilePattern,
  matchSubject,
  patternError,
  subjectError,
} from '../../../actors/bus/subject.js'
import { parseCookies, SessionKeys } from '../../../dashboard/session.js'
import { ERROR_CODES, type ErrorCode, isPulseError, PulseError } from '../../../runtime/errors.js'
import {
  encodeSseMessage,
  errorBody,
  errorFromBody,
  parseBasicAuthorization,
  Router,
} from '../../../transports/http/index.js'

/** Runs `fn`; anything it throws must be a PulseError with one of `codes`. */
function readOrRefuse<T>(fn: () => T, codes: readonly string[]): T | undefined {
  try {
    return fn()
  } catch (error) {
    expect(isPulseError(error), String(error)).toBe(true)
    expect(codes).toContain((error as PulseError).code)
    return undefined
  }
}

/** Text over all of Unicode, and over the characters subjects and JSON treat specially. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.string({
    unit: fc.constantFrom('a', 'é', '中', '.', '*', '>', ' ', '_', '\n', '\r', '\0', '\t', '"', '\\', '\ud800', '1'),
    maxLength: 12,
  }),
)
/** JSON whitespace, as an indent JSON.stringify writes between tokens. */
const indent = fc.string({ unit: fc.constantFrom(' ', '\t', '\n', '\r'), maxLength: 3 })

describe('bus publish bodies and records', () => {
  it('random bytes: events or ProtocolError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        readOrRefuse(() => parsePublishBody(Buffer.from(bytes)), ['PULSE_ERR_PROTOCOL'])
      }),
      { numRuns: 1_000 },
    )
  })

  it('the scanner finds each top-level value as JSON.parse reads it, whatever the spacing', () => {
    fc.assert(
      fc.property(fc.dictionary(anyText, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }), indent, (object, space) => {
        const text = JSON.stringify(object, null, space)
        const { fields, end } = scanObject(text, 0)
        expect(end).toBe(text.length)
        expect(new Set(fields.keys())).toEqual(new Set(Object.keys(object)))
        const parsed = JSON.parse(text) as Record<string, unknown>
        for (const [key, raw] of fields) expect(JSON.parse(raw)).toEqual(parsed[key])
      }),
      { numRuns: 1_000 },
    )
  })

  it('an event object or batch of any field types: read as JSON.parse reads it, payload bytes kept, or refused', () => {
    const value = fc.oneof(anyText, fc.jsonValue({ maxDepth: 2 }))
    const event = fc.dictionary(
      fc.constantFrom('subject', 'id', 'key', 'trace_id', 'response_subject', 'created_at', 'payload', 'x'),
      value,
      { maxKeys: 7 },
    )
    fc.assert(
      fc.property(fc.oneof(event, fc.array(event, { maxLength: 3 })), indent, (body, space) => {
        const text = JSON.stringify(body, null, space)
        const read = readOrRefuse(() => parsePublishBody(Buffer.from(text)), ['PULSE_ERR_PROTOCOL'])
        if (read === undefined) return
        const items = (Array.isArray(body) ? body : [body]) as Record<string, unknown>[]
        expect(read.batch).toBe(Array.isArray(body))
        expect(read.events).toHaveLength(items.length)
        for (const [i, item] of items.entries()) {
          const got = read.events[i]
          const string = (k: string) => (item[k] === null ? undefined : item[k])
          expect(got?.subject).toBe(string('subject') ?? '')
          expect([got?.id, got?.key, got?.traceId, got?.createdAt]).toEqual(
            ['id', 'key', 'trace_id', 'created_at'].map(string),
          )
          const payload = got?.payload.toString('utf8') ?? ''
          // As the body's JSON carries it: -0 is written as 0.
          expect(payload === '' ? null : JSON.parse(payload)).toEqual(JSON.parse(JSON.stringify(item.payload ?? null)))
        }
      }),
      { numRuns: 1_000 },
    )
  })

  it('a record round-trips through its canonical JSON; any text is a record or ProtocolError', () => {
    const record = fc.record({
      id: anyText,
      traceId: fc.option(anyText, { nil: undefined }),
      key: fc.option(anyText, { nil: undefined }),
      subject: anyText,
      responseSubject: fc.option(anyText, { nil: undefined }),
      createdAt: anyText,
      payload: fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(v === null ? '' : JSON.stringify(v))),
    })
    fc.assert(
      fc.property(record, fc.string(), (r, junk) => {
        const back = parseRecord(encodeRecord(r))
        expect(back.id).toBe(r.id)
        expect([back.traceId, back.key, back.responseSubject]).toEqual(
          [r.traceId, r.key, r.responseSubject].map((s) => (s === '' ? undefined : s)),
        )
        expect([back.subject, back.createdAt]).toEqual([r.subject, r.createdAt])
        expect(back.payload.equals(r.payload)).toBe(true)
        readOrRefuse(() => parseRecord(junk), ['PULSE_ERR_PROTOCOL'])
      }),
      { numRuns: 1_000 },
    )
  })

  it('a Go duration of any text is a non-negative number of ms or undefined', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, fc.stringMatching(/^(\d{1,25}(\.\d{0,4})?(ns|us|µs|ms|s|m|h)){0,4}$/)), (text) => {
        const ms = parseGoDuration(text)
        if (ms !== undefined) expect(Number.isFinite(ms) && ms >= 0).toBe(true)
      }),
      { numRuns: 1_000 },
    )
  })
})

describe('subjects and patterns over all of Unicode', () => {
  it('are valid or refused with InvalidArgumentError; matching never throws and agrees with the compiled pattern', () => {
    fc.assert(
      fc.property(anyText, anyText, (subject, pattern) => {
        expect(typeof (patternError(pattern) ?? '')).toBe('string')
        expect(typeof (subjectError(subject) ?? '')).toBe('string')
        readOrRefuse(() => checkSubject(subject), ['PULSE_ERR_INVALID_ARG'])
        const valid = readOrRefuse(() => checkPattern(pattern), ['PULSE_ERR_INVALID_ARG'])
        const matched = matchSubject(subject, pattern)
        if (valid !== undefined) expect(compilePattern(pattern)(subject)).toBe(matched)
      }),
      { numRuns: 2_000 },
    )
  })
})

describe('transports/http decoders', () => {
  it('SSE frames carry any data (line breaks become data lines) and refuse ids and events that would split', () => {
    fc.assert(
      fc.property(anyText, anyText, fc.option(anyText, { nil: undefined }), (data, id, event) => {
        const message = { id, data, ...(event === undefined ? {} : { event }) }
        const frame = readOrRefuse(() => encodeSseMessage(message), ['PULSE_ERR_INVALID_ARG'])
        const splits = (s: string | undefined) => s !== undefined && /[\r\n\0]/.test(s)
        expect(frame === undefined).toBe(splits(id) || splits(event))
        if (frame === undefined) return
        expect(frame.endsWith('\n\n')).toBe(true)
        const lines = frame.slice(0, -2).split('\n')
        const dataLines = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6))
        expect(dataLines.join('\n')).toBe(data.replace(/\r\n|\r/g, '\n'))
        expect(lines[0]).toBe(`id: ${id}`)
      }),
      { numRuns: 1_000 },
    )
  })

  it('a Basic Authorization header of any text is credentials or nothing; credentials round-trip', () => {
    const user = fc.string({ unit: 'grapheme', maxLength: 8 }).filter((u) => !u.includes(':'))
    fc.assert(
      fc.property(anyText, user, fc.string({ unit: 'grapheme', maxLength: 12 }), (header, u, password) => {
        const read = parseBasicAuthorization(header)
        if (read !== undefined) expect(typeof read.user === 'string' && typeof read.password === 'string').toBe(true)
        const encoded = `Basic ${Buffer.from(`${u}:${password}`).toString('base64')}`
        expect(parseBasicAuthorization(encoded)).toEqual({ user: u, password })
      }),
      { numRuns: 1_000 },
    )
  })

  it('the router answers any path with a match (parameters decoded) or NoRouteError, never a URIError', () => {
    const router = new Router()
    const handler = () => undefined
    router.get('/jobs/:id', handler).post('/jobs/:id/cancel', handler).get('/files/*', handler)
    const segment = fc.oneof(anyText, fc.constantFrom('%', '%E4', '%zz', '%C3%A9', '..', ''))
    fc.assert(
      fc.property(
        fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'X'),
        fc.array(segment, { maxLength: 4 }),
        (method, parts) => {
          const match = readOrRefuse(() => router.find(method, `/${parts.join('/')}`), ['PULSE_ERR_HTTP_NO_ROUTE'])
          if (match?.params.id !== undefined) expect(typeof match.params.id).toBe('string')
        },
      ),
      { numRuns: 1_000 },
    )
  })

  it('an error body of any JSON becomes a PulseError; every code round-trips through its HTTP body', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 599 }),
        fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.record({ code: anyText, message: fc.jsonValue() })),
        fc.constantFrom(...(Object.keys(ERROR_CODES) as ErrorCode[])),
        anyText,
        (status, body, code, message) => {
          expect(isPulseError(errorFromBody(status, body))).toBe(true)
          const back = errorFromBody(400, JSON.parse(JSON.stringify(errorBody(new PulseError(code, message)))))
          expect([(back as PulseError).code, back.message]).toEqual([code, message])
        },
      ),
      { numRuns: 1_000 },
    )
  })
})

describe('dashboard session cookies', () => {
  it('any cookie value is a session or nothing; a sealed session opens; a tampered one does not', () => {
    const keys = new SessionKeys('fuzz secret')
    const session = fc.record({
      user: fc.option(fc.string({ unit: 'grapheme', maxLength: 8 }), { nil: undefined }),
      readOnly: fc.boolean(),
      expiresAt: fc.integer({ min: Date.now() + 60_000, max: Date.now() + 3_600_000 }),
      nonce: fc.string({ maxLength: 22 }),
    })
    fc.assert(
      fc.property(anyText, session, fc.nat(), fc.integer({ min: 1, max: 127 }), (junk, s, at, flip) => {
        expect(keys.open(junk)).toBeUndefined()
        expect(typeof keys.checkCsrf(s, junk)).toBe('boolean')
        expect(parseCookies(junk)).toBeInstanceOf(Map)
        const sealed = keys.seal(s)
        expect(keys.open(sealed)).toEqual(s)
        const i = at % sealed.length
        const tampered = sealed.slice(0, i) + String.fromCharCode(sealed.charCodeAt(i) ^ flip) + sealed.slice(i + 1)
        if (tampered.split('.').slice(0, 2).join('.') !== sealed) expect(keys.open(tampered)).toBeUndefined()
      }),
      { numRuns: 1_000 },
    )
  })
})
