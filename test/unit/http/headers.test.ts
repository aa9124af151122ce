/** Header handling without a server: CORS, SSE framing and options, Last-Event-ID, open paths, request targets. */
import { describe, expect, it } from 'vitest'

import {
  Cors,
  DEFAULT_SSE_OPTIONS,
  encodeSseMessage,
  HttpServer,
  lastEventIdOf,
  resolveSseOptions,
} from '../../../transports/http/index.js'
import { isOpenPath, parseRequestUrl } from '../../../transports/http/server.js'
import { request, response } from './messages.js'

/** Matches a refusal naming `option` (an asymmetric matcher, typed for `toThrow`). */
const invalid = (option: string): Error =>
  expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG', data: { option } }) as Error

describe('SSE frames', () => {
  it('are id, event and data lines ending with a blank line; absent fields are left out', () => {
    expect(encodeSseMessage({ id: 'e_1', event: 'msg', data: '{"a":1}' })).toBe(
      'id: e_1\nevent: msg\ndata: {"a":1}\n\n',
    )
    expect(encodeSseMessage({ data: '' })).toBe('data: \n\n')
    expect(encodeSseMessage({ data: new TextEncoder().encode('é') })).toBe('data: é\n\n')
  })

  it('split data on every kind of line break, so a payload cannot inject a field or end the event', () => {
    expect(encodeSseMessage({ data: 'a\r\nb\rc\nd' })).toBe('data: a\ndata: b\ndata: c\ndata: d\n\n')
    expect(encodeSseMessage({ data: 'x\n\nid: forged' })).toBe('data: x\ndata: \ndata: id: forged\n\n')
  })

  it('refuse an id or event with a line break or NUL', () => {
    expect(() => encodeSseMessage({ id: 'a\nb', data: '' })).toThrow(invalid('id'))
    expect(() => encodeSseMessage({ event: 'a\rb', data: '' })).toThrow(invalid('event'))
    expect(() => encodeSseMessage({ id: 'a\0', data: '' })).toThrow(invalid('id'))
  })
})

describe('SSE options', () => {
  it('merge over the given defaults, headers included', () => {
    expect(resolveSseOptions(undefined)).toBe(DEFAULT_SSE_OPTIONS)
    const server = resolveSseOptions({ pingIntervalMs: 0, headers: { 'X-A': '1' } })
    expect(resolveSseOptions({ headers: { 'X-B': '2' } }, server)).toMatchObject({
      pingIntervalMs: 0,
      maxBufferedBytes: 1024 * 1024,
      headers: { 'X-A': '1', 'X-B': '2' },
    })
  })

  it('refuse a zero buffer, a negative grace, headers that are no object and unknown keys, by path', () => {
    expect(() => resolveSseOptions({ maxBufferedBytes: 0 }, DEFAULT_SSE_OPTIONS, 'options.sse')).toThrow(
      invalid('options.sse.maxBufferedBytes'),
    )
    expect(() => resolveSseOptions({ closeGraceMs: -1 })).toThrow(invalid('options.closeGraceMs'))
    expect(() => resolveSseOptions({ headers: null as never })).toThrow(invalid('options.headers'))
    expect(() => resolveSseOptions({ ping: 1 } as never)).toThrow(invalid('options.ping'))
  })

  it('read Last-Event-ID trimmed, and nothing for an absent or blank one', () => {
    expect(lastEventIdOf(request({ 'last-event-id': ' e_9 ' }))).toBe('e_9')
    expect(lastEventIdOf(request({ 'last-event-id': '  ' }))).toBeUndefined()
    expect(lastEventIdOf(request())).toBeUndefined()
  })
})

describe('CORS', () => {
  it("with '*' allows every origin, echoing it (with Vary) only when credentials are on", () => {
    const open = new Cors()
    expect(open.allowOrigin(request({ origin: 'https://a.example' }))).toBe('*')
    const withCredentials = new Cors({ credentials: true })
    const req = request({ origin: 'https://a.example' })
    const res = response(req)
    withCredentials.apply(req, res)
    expect(res.getHeader('access-control-allow-origin')).toBe('https://a.example')
    expect(res.getHeader('vary')).toBe('Origin')
    expect(res.getHeader('access-control-allow-credentials')).toBe('true')
  })

  it('with a list echoes a listed origin and sets no header at all for another', () => {
    const cors = new Cors({ origins: ['https://app.example'], exposeHeaders: ['X-Consumer'] })
    const listed = request({ origin: 'https://app.example' })
    const ok = response(listed)
    cors.apply(listed, ok)
    expect(ok.getHeader('access-control-allow-origin')).toBe('https://app.example')
    expect(ok.getHeader('access-control-expose-headers')).toBe('X-Consumer')
    const other = request({ origin: 'https://app.example.evil' })
    const refused = response(other)
    cors.apply(other, refused)
    expect(refused.getHeaderNames()).toEqual([])
    expect(cors.allowOrigin(request())).toBeUndefined()
  })

  it('answers a preflight 204 with Max-Age only when the origin was allowed', () => {
    const cors = new Cors({ origins: ['https://app.example'], maxAgeSeconds: 60 })
    const req = request({ origin: 'https://app.example' }, [], { method: 'OPTIONS' })
    const res = response(req)
    cors.apply(req, res)
    cors.preflight(res)
    expect(res.statusCode).toBe(204)
    expect(res.getHeader('access-control-max-age')).toBe('60')
    const other = response()
    cors.preflight(other)
    expect(other.getHeader('access-control-max-age')).toBeUndefined()
  })

  it('refuses options of the wrong shape, by path', () => {
    // A single origin given as a string (not a list) is a typed error, not a TypeError from inside.
    expect(() => new Cors({ origins: 'https://a' as never })).toThrow(invalid('options.cors.origins'))
    expect(() => new Cors({ allowHeaders: 'X-A' as never }, 'options.sse.cors')).toThrow(
      invalid('options.sse.cors.allowHeaders'),
    )
    expect(() => new Cors({ methods: ['GET', ''] })).toThrow(invalid('options.cors.methods[1]'))
    expect(() => new Cors({ maxAgeSeconds: -1 })).toThrow(invalid('options.cors.maxAgeSeconds'))
    expect(() => new Cors({ credentials: 'yes' as never })).toThrow(invalid('options.cors.credentials'))
  })
})

describe('open paths and request targets', () => {
  const open = new Set(['/healthz', '/ui/*'])

  it('open exact paths and everything under a /prefix/*, the prefix itself included', () => {
    for (const path of ['/healthz', '/ui', '/ui/', '/ui/jobs/7']) expect(isOpenPath(open, path)).toBe(true)
    for (const path of ['/healthz/x', '/uix', '/api/ui/x', '/', '/HEALTHZ']) expect(isOpenPath(open, path)).toBe(false)
  })

  it('resolve dot segments (encoded ones too) before the open-path check, so /ui/.. does not escape', () => {
    for (const target of ['/ui/../api/jobs', '/ui/%2e%2e/api/jobs', '/ui/%2E%2E/api/jobs', '/ui/./../api/jobs']) {
      const { pathname } = parseRequestUrl(target)
      expect(pathname).toBe('/api/jobs')
      expect(isOpenPath(open, pathname)).toBe(false)
    }
  })

  it('take origin and absolute forms, keep the query, and refuse an unparsable target with ProtocolError', () => {
    expect(parseRequestUrl('/a?b=1&c=%zz').search).toBe('?b=1&c=%zz')
    expect(parseRequestUrl('http://elsewhere/ui/x').pathname).toBe('/ui/x')
    expect(parseRequestUrl(undefined).pathname).toBe('/')
    expect(() => parseRequestUrl('http://[')).toThrow(expect.objectContaining({ code: 'PULSE_ERR_PROTOCOL' }))
  })
})

describe('HttpServer.listen options', () => {
  it('refuses bad options before it listens: nothing is left open (the leak check fails the test otherwise)', async () => {
    const cases: [object, string][] = [
      [{ port: 70_000 }, 'options.port'],
      [{ maxBodyBytes: -1 }, 'options.maxBodyBytes'],
      [{ host: '' }, 'options.host'],
      [{ nope: true }, 'options.nope'],
      [{ openPaths: ['healthz'] }, 'options.openPaths[0]'],
      [{ openPaths: '/healthz' }, 'options.openPaths'],
      [{ tls: { key: '' } }, 'options.tls.key (PEM text or a Buffer)'],
    ]
    for (const [options, option] of cases) {
      await expect(HttpServer.listen(options as never)).rejects.toMatchObject({
        code: 'PULSE_ERR_INVALID_ARG',
        data: { option },
      })
    }
  })
})
