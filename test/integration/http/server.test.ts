import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request as rawRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import bcrypt from 'bcryptjs'
import { describe, expect, it } from 'vitest'

import { InvalidArgumentError, UnauthorizedError } from '../../../runtime/errors.js'
import { errorFromBody, HttpServer, parseUsers, Router } from '../../../transports/http/index.js'
import type { HttpServerOptions } from '../../../transports/http/index.js'
import { curl, request } from './helpers.js'

function echoRouter(): Router {
  return new Router()
    .post('/json', async (ctx) => ctx.json(200, { got: await ctx.readJson(), user: ctx.user ?? null }))
    .get('/hello/:name', (ctx) => ctx.json(200, { hello: ctx.params.name, q: ctx.query.get('q') }))
    .get('/whoami', (ctx) => ctx.json(200, { user: ctx.user ?? null }))
    .get('/fail', () => {
      throw new InvalidArgumentError('options.x must be fine')
    })
    .get('/boom', () => {
      throw new Error('secret internals')
    })
}

async function withServer(options: HttpServerOptions, body: (server: HttpServer) => Promise<void>): Promise<void> {
  const server = await HttpServer.listen({ router: echoRouter(), ...options })
  try {
    await body(server)
  } finally {
    await server.close()
  }
}

describe('HttpServer', () => {
  it('listens on a free loopback port, routes by method and path, and maps errors to status + code', async () => {
    await withServer({}, async (server) => {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(server.port).toBeGreaterThan(0)

      const hello = await request(`${server.url}/hello/w%20rld?q=1`)
      expect(hello.status).toBe(200)
      expect(JSON.parse(hello.body)).toEqual({ hello: 'w rld', q: '1' })

      const missing = await request(`${server.url}/nope`)
      expect(missing.status).toBe(404)
      expect(JSON.parse(missing.body)).toMatchObject({ code: 'PULSE_ERR_HTTP_NO_ROUTE' })

      const wrongMethod = await request(`${server.url}/json`, { method: 'GET' })
      expect(wrongMethod.status).toBe(405)
      expect(wrongMethod.headers.allow).toBe('POST')

      const invalid = await request(`${server.url}/fail`)
      expect(invalid.status).toBe(400)
      const rebuilt = errorFromBody(invalid.status, JSON.parse(invalid.body))
      expect(rebuilt).toBeInstanceOf(InvalidArgumentError)
      expect(rebuilt.message).toBe('options.x must be fine')

      const boom = await request(`${server.url}/boom`)
      expect(boom.status).toBe(500)
      expect(JSON.parse(boom.body)).toEqual({
        name: 'PulseError',
        code: 'PULSE_ERR_INTERNAL',
        message: 'internal error',
      })
    })
  })

  it('answers 400 to malformed JSON and 413 to an oversized body, and serves the next request', async () => {
    await withServer({ maxBodyBytes: 1024 }, async (server) => {
      const bad = await request(`${server.url}/json`, {
        method: 'POST',
        body: '{"subject": ',
        headers: { 'Content-Type': 'application/json' },
      })
      expect(bad.status).toBe(400)
      expect(JSON.parse(bad.body)).toMatchObject({ code: 'PULSE_ERR_PROTOCOL' })

      const empty = await request(`${server.url}/json`, { method: 'POST', body: '' })
      expect(empty.status).toBe(400)

      // Declared too large: refused before a byte of it is read.
      const big = await request(`${server.url}/json`, {
        method: 'POST',
        body: JSON.stringify({ pad: 'x'.repeat(1500) }),
      })
      expect(big.status).toBe(413)
      expect(JSON.parse(big.body)).toMatchObject({
        code: 'PULSE_ERR_HTTP_BODY_TOO_LARGE',
        data: { maxBytes: 1024 },
      })

      // Chunked (no Content-Length): refused once it passes the limit.
      const chunked = await new Promise<number>((resolve, reject) => {
        const req = rawRequest(
          `${server.url}/json`,
          { method: 'POST', agent: false, headers: { 'Transfer-Encoding': 'chunked' } },
          (res) => {
            res.resume()
            res.on('end', () => resolve(res.statusCode ?? 0))
          },
        )
        req.on('error', reject)
        for (let i = 0; i < 3; i++) req.write('x'.repeat(700))
        req.end()
      })
      expect(chunked).toBe(413)

      // A runaway upload through curl: curl gets the 413 and stops sending.
      const dir = mkdtempSync(join(tmpdir(), 'pulse-http-'))
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${join(dir, 'big')}`, 'bs=1M', 'count=8'], { stdio: 'ignore' })
        const status = await curl([
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '--data-binary',
          `@${join(dir, 'big')}`,
          `${server.url}/json`,
        ])
        expect(status).toBe('413')
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }

      const ok = await request(`${server.url}/json`, { method: 'POST', body: '{"a": [1, 2]}' })
      expect(ok.status).toBe(200)
      expect(JSON.parse(ok.body)).toEqual({ got: { a: [1, 2] }, user: null })
    })
  })

  it('keeps a keep-alive connection usable after a 413 whose body was small enough to drop', async () => {
    await withServer({ maxBodyBytes: 1024 }, async (server) => {
      // curl sends both requests on one connection (-Z off); the second must succeed on it.
      const out = await curl([
        '-w',
        '%{http_code} %{num_connects}\\n',
        '-o',
        '/dev/null',
        '--data-binary',
        'x'.repeat(1500),
        `${server.url}/json`,
        '--next',
        '-w',
        '%{http_code} %{num_connects}\\n',
        '-o',
        '/dev/null',
        '--data-binary',
        '{"b":1}',
        `${server.url}/json`,
      ])
      expect(out).toBe('413 1\n200 0\n')
    })
  })

  it('Basic auth: 401 with WWW-Authenticate without or with wrong credentials, 200 with plaintext and bcrypt', async () => {
    const hash = await bcrypt.hash('s3cret', 4)
    await withServer({ auth: { users: `alice:pa:ss, bob:${hash}`, realm: 'bus' } }, async (server) => {
      const none = await request(`${server.url}/whoami`)
      expect(none.status).toBe(401)
      expect(none.headers['www-authenticate']).toBe('Basic realm="bus", charset="UTF-8"')
      expect(JSON.parse(none.body)).toMatchObject({ code: 'PULSE_ERR_HTTP_UNAUTHORIZED' })
      expect(errorFromBody(none.status, JSON.parse(none.body))).toBeInstanceOf(UnauthorizedError)

      const basic = (user: string, password: string) => ({
        Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
      })
      expect((await request(`${server.url}/whoami`, { headers: basic('alice', 'pa:sx') })).status).toBe(401)
      expect((await request(`${server.url}/whoami`, { headers: basic('bob', 'wrong') })).status).toBe(401)
      expect((await request(`${server.url}/whoami`, { headers: basic('carol', 's3cret') })).status).toBe(401)
      expect((await request(`${server.url}/whoami`, { headers: { Authorization: 'Bearer abc' } })).status).toBe(401)

      const alice = await request(`${server.url}/whoami`, { headers: basic('alice', 'pa:ss') })
      expect(alice.status).toBe(200)
      expect(JSON.parse(alice.body)).toEqual({ user: 'alice' })

      // curl -u, twice (the second passes through the verified-credentials cache).
      for (let i = 0; i < 2; i++)
        expect(JSON.parse(await curl(['-u', 'bob:s3cret', `${server.url}/whoami`]))).toEqual({ user: 'bob' })
      expect(await curl(['-o', '/dev/null', '-w', '%{http_code}', '-u', 'bob:nope', `${server.url}/whoami`])).toBe(
        '401',
      )
      // A 401 for a request with a body leaves the server fine.
      expect((await request(`${server.url}/json`, { method: 'POST', body: '{"a":1}' })).status).toBe(401)
      expect(
        (await request(`${server.url}/json`, { method: 'POST', body: '{"a":1}', headers: basic('alice', 'pa:ss') }))
          .status,
      ).toBe(200)
    })
  })

  it('parses PULSE_AUTH_USERS strings and refuses malformed ones without echoing secrets', () => {
    expect(parseUsers(' a:x , b:y:z,')).toEqual(
      new Map([
        ['a', 'x'],
        ['b', 'y:z'],
      ]),
    )
    expect(() => parseUsers('a:x,nocolon')).toThrow('entry 2 must be user:password')
    expect(() => parseUsers('a:x,a:y')).toThrow('user "a" is given twice')
    expect(() => parseUsers('')).toThrow('must name at least one user')
    expect(() => parseUsers('a:')).toThrow(InvalidArgumentError)
  })

  it('CORS: any OPTIONS is a 204 preflight (before auth); listed origins are echoed, others get no CORS headers', async () => {
    await withServer(
      { cors: { origins: ['https://app.example'], exposeHeaders: ['X-BUS-EVENT-ID'] }, auth: { users: 'u:p' } },
      async (server) => {
        const preflight = await request(`${server.url}/anything`, {
          method: 'OPTIONS',
          headers: {
            Origin: 'https://app.example',
            'Access-Control-Request-Method': 'POST',
            'Access-Control-Request-Headers': 'content-type',
          },
        })
        expect(preflight.status).toBe(204)
        expect(preflight.headers).toMatchObject({
          'access-control-allow-origin': 'https://app.example',
          'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
          'access-control-allow-headers': 'Content-Type, Authorization, Last-Event-ID',
          'access-control-expose-headers': 'X-BUS-EVENT-ID',
          'access-control-max-age': '600',
          vary: 'Origin',
        })
        const foreign = await request(`${server.url}/anything`, {
          method: 'OPTIONS',
          headers: { Origin: 'https://evil.example' },
        })
        expect(foreign.status).toBe(204)
        expect(foreign.headers['access-control-allow-origin']).toBeUndefined()
        // Error responses carry the CORS headers too, so a page can read them.
        const denied = await request(`${server.url}/whoami`, { headers: { Origin: 'https://app.example' } })
        expect(denied.status).toBe(401)
        expect(denied.headers['access-control-allow-origin']).toBe('https://app.example')
      },
    )
    await withServer({ cors: true }, async (server) => {
      const out = await curl(['-i', '-X', 'OPTIONS', `${server.url}/`])
      expect(out).toMatch(/^HTTP\/1\.1 204/)
      expect(out).toMatch(/access-control-allow-origin: \*/i)
    })
  })

  it('serves HTTPS with a self-signed certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-tls-'))
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      )
      const key = readFileSync(join(dir, 'key.pem'), 'utf8')
      const cert = readFileSync(join(dir, 'cert.pem'), 'utf8')
      await withServer({ tls: { key, cert } }, async (server) => {
        expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
        const reply = await request(`${server.url}/hello/tls`, { ca: cert })
        expect(reply.status).toBe(200)
        expect(JSON.parse(reply.body)).toMatchObject({ hello: 'tls' })
        expect(JSON.parse(await curl(['--cacert', join(dir, 'cert.pem'), `${server.url}/hello/curl`]))).toMatchObject({
          hello: 'curl',
        })
        await expect(request(`${server.url}/hello/x`)).rejects.toThrow(/self[- ]signed/i)
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('validates its options, naming them', async () => {
    await expect(HttpServer.listen({ port: 70_000 })).rejects.toThrow(
      'options.port must be an integer between 0 and 65535',
    )
    await expect(HttpServer.listen({ maxBodyBytes: -1 })).rejects.toThrow(InvalidArgumentError)
    await expect(HttpServer.listen({ auth: { users: 'nocolon' } })).rejects.toThrow('options.auth.users: entry 1')
    await expect(HttpServer.listen({ sse: { pingIntervalMs: -5 } })).rejects.toThrow('options.sse.pingIntervalMs')
    await expect(HttpServer.listen({ cors: { origins: [''] } })).rejects.toThrow('options.cors.origins[0]')
  })

  it('close() is memoised, closes idle keep-alive sockets, and later requests are refused', async () => {
    const server = await HttpServer.listen({ router: echoRouter() })
    // A keep-alive connection left idle by fetch's pool.
    const res = await fetch(`${server.url}/hello/a`)
    expect(res.status).toBe(200)
    await res.text()
    const started = Date.now()
    const first = server.close()
    expect(server.close()).toBe(first)
    await first
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(server.state).toBe('closed')
    await expect(request(`${server.url}/hello/b`)).rejects.toThrow(/ECONNREFUSED/)
  })
})
