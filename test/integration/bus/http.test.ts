// BusServer and BusClient over a real HTTP server and the real Redis: the API of docs/bus-http-api.md.
import { afterEach, describe, expect, it } from 'vitest'

import { BusClient, BusServer, NoResponderError, TimeoutError } from '../../../actors/bus/index.js'
import type { Bus } from '../../../actors/bus/index.js'
import { waitFor } from '../../helpers/wait.js'
import { curl, openSse, request } from '../http/helpers.js'
import { Opened, take, text } from './helpers.js'

let opened = new Opened()
afterEach(async () => {
  await opened.close()
  opened = new Opened()
})

async function serve(
  bus: Bus,
  options: Partial<Parameters<typeof BusServer.listen>[0]> = {},
  port = 0,
): Promise<BusServer> {
  return opened.add(await BusServer.listen({ bus, port, ...options }))
}

/** The `data:` records of `msg` events in an SSE text. */
function records(sse: string): { id: string; subject: string; payload?: unknown }[] {
  return [...sse.matchAll(/id: (e_\S+)\nevent: msg\ndata: (.*)\n\n/g)].map(
    (m) => JSON.parse(m[2]!) as { id: string; subject: string },
  )
}

describe('BusServer', () => {
  it('POST answers 202 with the X-BUS headers; GET streams id/event/data frames with the canonical record', async () => {
    const bus = await opened.bus()
    const server = await serve(bus)
    const post = await request(`${server.url}/`, {
      method: 'POST',
      body: '{"subject":"a.b.c","payload":{"a": 1, "b": 2}}',
    })
    expect(post.status).toBe(202)
    expect(post.body).toBe('')
    expect(post.headers['x-bus-event-id']).toMatch(/^e_[0-9a-v]{20}$/)
    expect(post.headers['x-bus-event-index']).toBe('0')
    expect(post.headers['access-control-allow-origin']).toBe('*')
    const created = post.headers['x-bus-event-created-at'] as string
    expect(new Date(created).getTime()).not.toBeNaN()
    const sse = await openSse(`${server.url}/any/path?subject=a.b.c&start=oldest`)
    expect(sse.res.headers['x-bus-consumer-id']).toMatch(/^c_[0-9a-v]{20}$/)
    expect(sse.res.headers['content-type']).toBe('text/event-stream')
    const id = post.headers['x-bus-event-id'] as string
    await sse.waitFor('\n\n')
    expect(sse.text()).toBe(
      `id: ${id}\nevent: msg\ndata: {"id":"${id}","subject":"a.b.c","created_at":"${created}","payload":{"a": 1, "b": 2}}\n\n`,
    )
    const again = await openSse(`${server.url}/?subject=a.b.c&start=oldest`)
    expect(again.res.headers['x-bus-consumer-id']).not.toBe(sse.res.headers['x-bus-consumer-id'])
    const options = await request(`${server.url}/whatever`, { method: 'OPTIONS' })
    expect(options.status).toBe(204)
    expect(options.headers['access-control-allow-methods']).toBe('GET, POST, PUT, OPTIONS')
    expect(options.headers['access-control-expose-headers']).toContain('X-BUS-CONSUMER-ID')
    sse.req.destroy()
    again.req.destroy()
  })

  it('errors: plain-text 400s with the reference messages, 401, 413, 409, 405 — and nothing else is lost', async () => {
    const bus = await opened.bus({ dedupTtlMs: 60_000 })
    const server = await serve(bus, { auth: { users: 'ada:secret' }, limits: { maxBodyBytes: 1024 } })
    const auth = { Authorization: `Basic ${Buffer.from('ada:secret').toString('base64')}` }
    const sse = await openSse(`${server.url}/?subject=a.>`, auth)
    const post = (body: string, headers: Record<string, string> = auth) =>
      request(`${server.url}/`, { method: 'POST', body, headers })
    expect((await post('{"subject":"a.ok1","payload":1}')).status).toBe(202)
    const cases: [string, number, string][] = [
      ['', 400, 'empty body\n'],
      ['{"subject":', 400, ''],
      ['{"payload":1}', 400, 'subject is required\n'],
      ['{"subject":"a.*"}', 400, 'subject should not have * or >\n'],
      ['{"subject":"nodots"}', 400, 'invalid subject: missing namespace\n'],
      ['{"subject":"zz.x"}', 400, 'namespace not found: zz\n'],
      ['[]', 400, 'empty batch\n'],
      ['[{"subject":"a.x"},{"subject":"b.x"}]', 400, 'all events in batch must belong to the same namespace\n'],
      ['[{"subject":"_bus_.x"}]', 400, 'batch cannot publish to the reserved _bus_ namespace\n'],
      [JSON.stringify({ subject: 'a.big', payload: 'x'.repeat(2000) }), 413, ''],
    ]
    for (const [body, status, message] of cases) {
      const reply = await post(body)
      expect(reply.status, body.slice(0, 40)).toBe(status)
      if (message !== '') expect(reply.body, body).toBe(message)
    }
    expect((await post('{"subject":"a.k","key":"k"}')).status).toBe(202)
    const dup = await post('{"subject":"a.k","key":"k"}')
    expect([dup.status, dup.body]).toEqual([409, 'key was processed before\n'])
    expect((await post('{"subject":"a.x"}', {})).status).toBe(401)
    expect(
      (await post('{"subject":"a.x"}', { Authorization: `Basic ${Buffer.from('ada:wrong').toString('base64')}` }))
        .status,
    ).toBe(401)
    expect((await request(`${server.url}/?subject=a.x`, { headers: {} })).status).toBe(401)
    for (const [query, message] of [
      ['', 'missing subject in query string\n'],
      ['subject=a.b-c', 'subject should have only consists of alphanumerics, dots, *, > and _\n'],
      ['subject=a.**', 'subject should have a dot after *\n'],
      ['subject=zz.x', 'namespace not found: zz\n'],
      ['subject=_bus_.x.*', 'inbox subjects cannot contain wildcards\n'],
    ]) {
      const reply = await request(`${server.url}/?${query}`, { headers: auth })
      expect([reply.status, reply.body], query).toEqual([400, message])
    }
    for (const [query, message] of [
      ['', 'missing consumer_id in query string\n'],
      ['consumer_id=x', 'invalid consumer_id in query string\n'],
      ['consumer_id=c_x', 'missing event_id in query string\n'],
      ['consumer_id=c_x&event_id=y', 'invalid event_id in query string\n'],
    ]) {
      const reply = await request(`${server.url}/?${query}`, { method: 'PUT', headers: auth })
      expect([reply.status, reply.body], query).toEqual([400, message])
    }
    expect(
      (await request(`${server.url}/?consumer_id=c_x&event_id=e_y`, { method: 'PUT', headers: auth })).status,
    ).toBe(202)
    expect((await request(`${server.url}/`, { method: 'DELETE', headers: auth })).status).toBe(405)
    const json = await request(`${server.url}/`, {
      method: 'POST',
      body: '{"subject":"a.*"}',
      headers: { ...auth, Accept: 'application/json' },
    })
    expect(JSON.parse(json.body)).toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
    expect((await post('{"subject":"a.ok2","payload":2}')).status).toBe(202)
    await sse.waitFor('"a.ok2"')
    expect(records(sse.text()).map((r) => r.subject)).toEqual(['a.ok1', 'a.k', 'a.ok2'])
    sse.req.destroy()
  })

  it('curl publishes, subscribes with manual ack and acks: the next event comes only after the PUT', async () => {
    const bus = await opened.bus()
    const server = await serve(bus)
    await curl(['-X', 'POST', '--data', '{"subject":"a.c","payload":"first"}', `${server.url}/`])
    await curl(['-X', 'POST', '--data', '{"subject":"a.c","payload":"second"}', `${server.url}/`])
    const sse = await openSse(`${server.url}/?subject=a.c&start=oldest&ack=manual&redelivery=1m`)
    await sse.waitFor('"first"')
    const [first] = records(sse.text())
    expect(sse.text()).not.toContain('second')
    const consumer = sse.res.headers['x-bus-consumer-id'] as string
    const out = await curl([
      '-X',
      'PUT',
      '-w',
      '%{http_code}',
      `${server.url}/?consumer_id=${consumer}&event_id=${first!.id}`,
    ])
    expect(out).toBe('202')
    await sse.waitFor('"second"')
    const streamed = await curl(['-N', '--max-time', '1', `${server.url}/?subject=a.c&start=oldest`]).catch(
      (error: Error) => error.message,
    )
    expect(streamed).toBeTruthy()
    sse.req.destroy()
  })

  it('redelivers over SSE with the same id exactly redelivery_count times', async () => {
    const bus = await opened.bus()
    const server = await serve(bus)
    await bus.put('a.r', 1)
    await bus.put('a.r', 2)
    const sse = await openSse(`${server.url}/?subject=a.r&start=oldest&ack=manual&redelivery=100ms&redelivery_count=3`)
    await sse.waitFor('"payload":2')
    const ids = records(sse.text()).map((r) => r.id)
    expect(ids.length).toBe(4)
    expect(new Set(ids.slice(0, 3)).size).toBe(1)
    expect(ids[3]).not.toBe(ids[0])
    sse.req.destroy()
  })

  it('a server restart ends streams; a Last-Event-ID reconnect resumes with no loss and no duplicate', async () => {
    const bus = await opened.bus()
    let server = await serve(bus)
    const port = server.port
    const sent: string[] = []
    for (let i = 0; i < 5; i++) sent.push((await bus.put('a.l', i)).id)
    const sse = await openSse(`${server.url}/?subject=a.l&start=oldest`)
    await sse.waitFor(sent[4]!)
    await server.close()
    await sse.ended
    const before = records(sse.text()).map((r) => r.id)
    for (let i = 5; i < 10; i++) sent.push((await bus.put('a.l', i)).id)
    server = await serve(bus, {}, port)
    const resumed = await openSse(`${server.url}/?subject=a.l&start=oldest`, { 'Last-Event-ID': before.at(-1)! })
    await resumed.waitFor(sent[9]!)
    expect([...before, ...records(resumed.text()).map((r) => r.id)]).toEqual(sent)
    resumed.req.destroy()
  })

  it('100 concurrent SSE subscribers on overlapping patterns each get exactly their matching events', async () => {
    const bus = await opened.bus()
    const server = await serve(bus)
    const patterns = ['a.>', 'a.x.*', 'a.*.1', 'a.y.>', 'a.x.1']
    const subjects = ['a.x.1', 'a.x.2', 'a.y.1', 'a.y.2.z', 'a.z']
    const clients = await Promise.all(
      Array.from({ length: 100 }, (_, i) => openSse(`${server.url}/?subject=${patterns[i % patterns.length]}`)),
    )
    const published: { id: string; subject: string }[] = []
    for (let round = 0; round < 4; round++) {
      for (const subject of subjects) published.push({ id: (await bus.put(subject, round)).id, subject })
    }
    const { matchSubject } = await import('../../../actors/bus/index.js')
    await Promise.all(
      clients.map(async (client, i) => {
        const pattern = patterns[i % patterns.length]!
        const expected = published.filter((p) => matchSubject(p.subject, pattern)).map((p) => p.id)
        await client.waitFor(expected.at(-1)!)
        expect(
          records(client.text()).map((r) => r.id),
          pattern,
        ).toEqual(expected)
      }),
    )
    for (const client of clients) client.req.destroy()
  })

  it('drops a slow SSE client with an error and keeps serving the others', async () => {
    const bus = await opened.bus()
    const server = await serve(bus, { limits: { maxBufferedBytes: 64 * 1024, stallTimeoutMs: 200 } })
    const slow = await openSse(`${server.url}/?subject=a.>`)
    slow.res.pause()
    const fast = await openSse(`${server.url}/?subject=a.>`)
    const big = 'x'.repeat(32 * 1024)
    let last = ''
    // Enough to fill the paused client's socket buffers; then its stream must be dropped after the stall.
    for (let i = 0; i < 400 && server.openStreams > 1; i++) last = (await bus.put('a.big', big)).id
    await fast.waitFor(last)
    await waitFor(() => server.openStreams === 1, { what: 'the slow stream to be dropped' })
    slow.res.resume()
    await slow.ended // the error frame follows what was buffered; the socket is cut after the grace period
    expect(records(slow.text()).length).toBeLessThan(records(fast.text()).length)
    fast.req.destroy()
  })

  it('sends : ping on idle streams', async () => {
    const bus = await opened.bus()
    const server = await serve(bus, { limits: { pingIntervalMs: 50 } })
    const sse = await openSse(`${server.url}/?subject=a.>`)
    await sse.waitFor(': ping\n\n')
    sse.req.destroy()
  })
})

describe('BusClient', () => {
  it('puts, gets, acks, batches, requests and confirms over HTTP like the in-process Bus', async () => {
    const bus = await opened.bus()
    const server = await serve(bus, { auth: { users: { ada: 'secret' } } })
    const client = opened.add(new BusClient(server.url, { username: 'ada', password: 'secret' }))
    const sub = client.get('a.>', { ack: 'manual', redelivery: { delayMs: 60_000, count: 3 } })
    await sub.ready
    const r1 = await client.put('a.one', { n: 1 })
    expect(r1.id).toMatch(/^e_/)
    await client.put([
      { subject: 'a.two', payload: 2 },
      { subject: 'a.three', payload: 3 },
    ])
    const [e1] = await take(sub, 1)
    expect([e1!.id, text(e1!)]).toEqual([r1.id, '{"n":1}'])
    await e1!.ack()
    const [e2] = await take(sub, 1)
    await e2!.ack()
    expect(text(e2!)).toBe('2')
    await (await take(sub, 1))[0]!.ack()

    const responder = bus.reply('rpc.echo', (req) => req.payload)
    await responder.ready
    expect((await client.request('rpc.echo', { hi: 1 })).toString()).toBe('{"hi":1}')
    await expect(client.request('rpc.nobody', {}, { timeoutMs: 5_000 })).rejects.toBeInstanceOf(NoResponderError)
    await responder.close()

    const clientResponder = client.reply('rpc.add', (req) => {
      const { a, b } = JSON.parse(text(req)) as { a: number; b: number }
      return a + b
    })
    await clientResponder.ready
    expect((await bus.request('rpc.add', { a: 1, b: 2 })).toString()).toBe('3')
    await clientResponder.close()

    const other = client.get('b.>', { ack: 'manual' })
    const local = bus.get('b.>', { ack: 'manual' })
    await Promise.all([other.ready, local.ready])
    const confirmed = client.put('b.c', 'x', { confirm: 2, timeoutMs: 10_000 })
    await (await take(other, 1))[0]!.ack()
    await (await take(local, 1))[0]!.ack()
    expect((await confirmed).id).toMatch(/^e_/)
    await expect(client.put('b.c', 'y', { confirm: 3, timeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError)
    await local.return()

    const bad = new BusClient(server.url, { username: 'ada', password: 'nope' })
    await expect(bad.put('a.x', 1)).rejects.toMatchObject({ code: 'PULSE_ERR_HTTP_UNAUTHORIZED' })
    await bad.close()
  })

  it('reconnects with Last-Event-ID after a server restart: no loss, no duplicate', async () => {
    const bus = await opened.bus()
    let server = await serve(bus)
    const port = server.port
    const client = opened.add(new BusClient(server.url, { reconnect: { attempts: 20, delayMs: 50 } }))
    const sub = client.get('a.>')
    await sub.ready
    const sent: string[] = []
    for (let i = 0; i < 3; i++) sent.push((await bus.put('a.r', i)).id)
    const got = (await take(sub, 3)).map((e) => e.id)
    await server.close()
    for (let i = 3; i < 6; i++) sent.push((await bus.put('a.r', i)).id)
    server = await serve(bus, {}, port)
    got.push(...(await take(sub, 3)).map((e) => e.id))
    expect(got).toEqual(sent)
  })
})
