import { connect } from 'node:net'
import type { Socket } from 'node:net'

import { describe, expect, it } from 'vitest'

import { ClosedError, CloseTimeoutError, SlowConsumerError } from '../../../runtime/errors.js'
import { HttpServer, Router } from '../../../transports/http/index.js'
import type { HttpContext, HttpServerOptions, SseOptions, SseStream } from '../../../transports/http/index.js'
import { curl, deferred, openSse } from './helpers.js'

/** A server whose GET /events opens a stream with `streamOptions` and hands it (and its context) to the test. */
async function sseServer(options: HttpServerOptions = {}, streamOptions?: SseOptions) {
  const opened: { stream: SseStream; ctx: HttpContext }[] = []
  const waiters: ((entry: { stream: SseStream; ctx: HttpContext }) => void)[] = []
  const router = new Router().get('/events', (ctx) => {
    const entry = { stream: ctx.sse(streamOptions), ctx }
    opened.push(entry)
    waiters.shift()?.(entry)
  })
  const server = await HttpServer.listen({ router, ...options })
  /** The next stream opened (or one already opened and not yet taken). */
  let taken = 0
  const nextStream = () =>
    new Promise<{ stream: SseStream; ctx: HttpContext }>((resolve) => {
      const ready = opened[taken]
      if (ready !== undefined) {
        taken++
        resolve(ready)
      } else {
        waiters.push((entry) => {
          taken++
          resolve(entry)
        })
      }
    })
  return { server, nextStream }
}

describe('SSE', () => {
  it('frames events as id:/event:/data: lines (multi-line data split) and error events without id, read by curl', async () => {
    const router = new Router().get('/events', (ctx) => {
      const stream = ctx.sse({ headers: { 'X-BUS-CONSUMER-ID': 'c_1' } })
      stream.send({ id: 'e_1', event: 'msg', data: '{"id":"e_1","subject":"a.b.c","payload":"hello"}' })
      stream.send({ data: 'line one\nline two\r\nline three' })
      stream.send({ id: 'e_2', event: 'msg', data: Buffer.from('{"a": 1, "b": 2}') })
      stream.fail(new ClosedError('start event id e_x not found in namespace a'))
    })
    const server = await HttpServer.listen({ router })
    try {
      const out = await curl(['-N', '-D', '-', `${server.url}/events`])
      const [head, body] = out.split('\r\n\r\n') as [string, string]
      expect(head).toMatch(/^HTTP\/1\.1 200 OK/)
      expect(head).toMatch(/\r\nContent-Type: text\/event-stream\r\n/)
      expect(head).toMatch(/\r\nCache-Control: no-cache\r\n/)
      expect(head).toMatch(/\r\nX-BUS-CONSUMER-ID: c_1\r\n/)
      expect(body).toBe(
        'id: e_1\nevent: msg\ndata: {"id":"e_1","subject":"a.b.c","payload":"hello"}\n\n' +
          'data: line one\ndata: line two\ndata: line three\n\n' +
          'id: e_2\nevent: msg\ndata: {"a": 1, "b": 2}\n\n' +
          'event: error\ndata: start event id e_x not found in namespace a\n\n',
      )
    } finally {
      await server.close()
    }
  })

  it('refuses ids and event names with line breaks', async () => {
    const { server, nextStream } = await sseServer()
    try {
      const client = await openSse(`${server.url}/events`)
      const { stream } = await nextStream()
      expect(() => stream.send({ id: 'e_1\ndata: forged', data: 'x' })).toThrow('SSE id must not contain line breaks')
      expect(() => stream.send({ event: 'a\rb', data: 'x' })).toThrow('SSE event must not contain line breaks')
      stream.end()
      await client.ended
      expect(client.text()).toBe('')
      expect(await stream.closed).toBeUndefined()
      expect(stream.signal.reason).toBeInstanceOf(ClosedError)
    } finally {
      await server.close()
    }
  })

  it('sends `: ping` after pingIntervalMs without a write', async () => {
    const { server, nextStream } = await sseServer({ sse: { pingIntervalMs: 50 } })
    try {
      const client = await openSse(`${server.url}/events`)
      const { stream } = await nextStream()
      stream.send({ id: 'e_1', data: 'first' })
      await client.waitFor('data: first\n\n: ping\n\n')
      await client.waitFor(': ping\n\n: ping\n\n')
      stream.end()
      await client.ended
    } finally {
      await server.close()
    }
  })

  it('reads Last-Event-ID (curl and node clients)', async () => {
    const router = new Router().get('/events', (ctx) => {
      const stream = ctx.sse()
      stream.send({ event: 'resume', data: stream.lastEventId ?? '(none)' })
      stream.end()
    })
    const server = await HttpServer.listen({ router })
    try {
      expect(await curl(['-N', '-H', 'Last-Event-ID: e_5', `${server.url}/events`])).toBe(
        'event: resume\ndata: e_5\n\n',
      )
      expect(await curl(['-N', `${server.url}/events`])).toBe('event: resume\ndata: (none)\n\n')
      const client = await openSse(`${server.url}/events`, { 'Last-Event-ID': 'e_9' })
      await client.ended
      expect(client.text()).toBe('event: resume\ndata: e_9\n\n')
    } finally {
      await server.close()
    }
  })

  it('aborts the stream signal (and the request signal) when the client disconnects', async () => {
    const { server, nextStream } = await sseServer()
    try {
      const client = await openSse(`${server.url}/events`)
      const { stream, ctx } = await nextStream()
      const aborted = new Promise<unknown>((resolve) =>
        stream.signal.addEventListener('abort', () => resolve(stream.signal.reason)),
      )
      client.req.destroy()
      const reason = await aborted
      expect(reason).toBeInstanceOf(ClosedError)
      expect((reason as ClosedError).data).toEqual({ reason: 'disconnected' })
      expect(await stream.closed).toBe(reason)
      expect(ctx.signal.aborted).toBe(true)
      expect(stream.send({ data: 'late' })).toBe(false)
      expect(server.openStreams).toBe(0)
    } finally {
      await server.close()
    }
  })

  it('closes a client that never reads once maxBufferedBytes wait for it; memory stays bounded', async () => {
    const maxBufferedBytes = 64 * 1024
    const { server, nextStream } = await sseServer({}, { maxBufferedBytes, closeGraceMs: 100, pingIntervalMs: 0 })
    let socket: Socket | undefined
    try {
      // A raw client that sends its request and then never reads a byte.
      socket = connect(server.port, '127.0.0.1')
      socket.on('error', () => {})
      socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      socket.pause()
      const { stream, ctx } = await nextStream()
      const serverSocketClosed = new Promise<void>((resolve) => ctx.res.once('close', () => resolve()))

      const event = { id: 'e_x', event: 'msg', data: 'x'.repeat(4096) }
      let maxSeen = 0
      let sent = 0
      // One event per turn of the event loop, so that the socket takes what the kernel will take and
      // only a client that does not read backs up. Bounded so that a broken limit fails the test
      // instead of hanging it (20k × 4 KiB = 80 MiB).
      while (sent < 20_000 && stream.send(event)) {
        sent++
        maxSeen = Math.max(maxSeen, stream.bufferedBytes)
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
      const reason = await stream.closed
      expect(reason).toBeInstanceOf(SlowConsumerError)
      expect(reason).toMatchObject({ code: 'PULSE_ERR_HTTP_SLOW_CONSUMER', data: { maxBufferedBytes } })
      expect(stream.signal.reason).toBe(reason)
      // The kernel's socket buffers took some before anything waited in the process.
      expect(sent * 4096).toBeGreaterThan(maxBufferedBytes)
      expect(maxSeen).toBeLessThanOrEqual(maxBufferedBytes)
      // The server gave up on the socket after closeGraceMs: the error frame could not be delivered.
      await serverSocketClosed
      expect(server.openStreams).toBe(0)
    } finally {
      socket?.destroy()
      await server.close()
    }
  })

  it('a client that reads keeps its stream however much flows, when the writer waits for drained()', async () => {
    const maxBufferedBytes = 64 * 1024
    const { server, nextStream } = await sseServer({}, { maxBufferedBytes, pingIntervalMs: 0 })
    try {
      const client = await openSse(`${server.url}/events`)
      const { stream } = await nextStream()
      const event = { event: 'msg', data: 'z'.repeat(4096) }
      for (let i = 0; i < 2_000; i++) {
        expect(stream.send(event)).toBe(true)
        if (stream.bufferedBytes > maxBufferedBytes / 2) await stream.drained()
      }
      stream.send({ event: 'last', data: 'done' })
      stream.end()
      expect(await stream.closed).toBeUndefined()
      await client.ended
      expect(client.text().endsWith('event: last\ndata: done\n\n')).toBe(true)
      expect(client.text().length).toBe(
        2_000 * (4096 + 'event: msg\ndata: \n\n'.length) + 'event: last\ndata: done\n\n'.length,
      )
    } finally {
      await server.close()
    }
  })

  it('close() with open streams (one client stalled) returns within its bound; clients see EOF without a final message', async () => {
    const { server, nextStream } = await sseServer(
      { closeTimeoutMs: 3_000 },
      { closeGraceMs: 200, maxBufferedBytes: 8 * 1024 * 1024, pingIntervalMs: 0 },
    )
    const stalled = connect(server.port, '127.0.0.1')
    try {
      const clients = await Promise.all([
        openSse(`${server.url}/events`),
        openSse(`${server.url}/events`),
        openSse(`${server.url}/events`),
      ])
      const streams = await Promise.all(clients.map(() => nextStream()))
      for (const [i, { stream }] of streams.entries()) stream.send({ id: `e_${i}`, event: 'msg', data: 'hi' })
      await Promise.all(clients.map((client, i) => client.waitFor(`id: e_${i}\n`)))

      stalled.on('error', () => {})
      stalled.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      stalled.pause()
      const { stream: stuck } = await nextStream()
      // Fill the stalled client's pipes so that its end cannot be delivered.
      for (let i = 0; i < 4_000 && stuck.send({ data: 'y'.repeat(4096) }); i++) {
        if (i % 16 === 0) await new Promise<void>((resolve) => setImmediate(resolve))
      }
      expect(server.openStreams).toBe(4)

      const started = Date.now()
      await server.close()
      expect(Date.now() - started).toBeLessThan(2_000)
      await Promise.all(clients.map((client) => client.ended))
      for (const [i, client] of clients.entries()) expect(client.text()).toBe(`id: e_${i}\nevent: msg\ndata: hi\n\n`)
      for (const { stream } of streams) expect(await stream.closed).toBeUndefined()
      expect(server.openStreams).toBe(0)
    } finally {
      stalled.destroy()
      await server.close()
    }
  })

  it('close() resolves once the response has closed, one promise for every call; destroy() cuts at once', async () => {
    const { server, nextStream } = await sseServer()
    try {
      const client = await openSse(`${server.url}/events`)
      const { stream, ctx } = await nextStream()
      stream.send({ id: 'e_1', data: 'one' })
      const first = stream.close()
      expect(stream.close()).toBe(first)
      expect(stream.open).toBe(false)
      expect(stream.send({ data: 'late' })).toBe(false)
      await first
      expect(ctx.res.writableFinished).toBe(true)
      expect(await stream.closed).toBeUndefined()
      await client.ended
      expect(client.text()).toBe('id: e_1\ndata: one\n\n')

      const cut = await openSse(`${server.url}/events`)
      const { stream: other } = await nextStream()
      other.send({ data: 'two' })
      await cut.waitFor('data: two\n\n')
      const reason = new Error('dropped')
      await other.destroy(reason)
      expect(await other.closed).toBe(reason)
      expect(other.signal.reason).toBe(reason)
      await cut.ended
      expect(cut.text()).toBe('data: two\n\n')
      expect(cut.res.complete).toBe(false)
      expect(server.openStreams).toBe(0)
    } finally {
      await server.close()
    }
  })

  it('a client that does not take the end within closeGraceMs has its socket destroyed; closed says so', async () => {
    const closeGraceMs = 100
    const { server, nextStream } = await sseServer(
      {},
      { closeGraceMs, maxBufferedBytes: 8 * 1024 * 1024, pingIntervalMs: 0 },
    )
    const stalled = connect(server.port, '127.0.0.1')
    try {
      stalled.on('error', () => {})
      stalled.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      stalled.pause()
      const { stream, ctx } = await nextStream()
      // Fill the stalled client's pipes until 1 MiB waits in the process: its end cannot be delivered.
      for (let i = 0; i < 4_000 && stream.bufferedBytes < 1024 * 1024; i++) {
        expect(stream.send({ data: 'y'.repeat(4096) })).toBe(true)
        if (i % 16 === 0) await new Promise<void>((resolve) => setImmediate(resolve))
      }
      expect(stream.bufferedBytes).toBeGreaterThanOrEqual(1024 * 1024)
      const socketClosed = new Promise<void>((resolve) => ctx.res.once('close', () => resolve()))
      const started = Date.now()
      stream.end()
      const reason = await stream.closed
      expect(reason).toBeInstanceOf(CloseTimeoutError)
      expect(Date.now() - started).toBeGreaterThanOrEqual(closeGraceMs - 5)
      await socketClosed
      await expect(stream.close()).rejects.toBe(reason)
      expect(server.openStreams).toBe(0)
    } finally {
      stalled.destroy()
      await server.close()
    }
  })

  it('a handler that throws after opening a stream ends it with an error event', async () => {
    const router = new Router().get('/events', (ctx) => {
      ctx.sse().send({ id: 'e_1', data: 'one' })
      throw new Error('not for the client')
    })
    const server = await HttpServer.listen({ router })
    try {
      const done = deferred<string>()
      void curl(['-N', `${server.url}/events`]).then(done.resolve)
      expect(await done.promise).toBe('id: e_1\ndata: one\n\nevent: error\ndata: internal error\n\n')
    } finally {
      await server.close()
    }
  })
})
