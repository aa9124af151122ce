/**
 * The chaos suite's fault proxy (test/chaos/fault-proxy.ts) in front of a small echo server: what a
 * client on the far side observes of each fault, and that `close()` leaves nothing open.
 */
import { once } from 'node:events'
import net from 'node:net'

import { afterEach, beforeEach, expect, it } from 'vitest'

import { FaultProxy } from '../../chaos/fault-proxy.js'

/** Echoes every byte back; counts the connections it saw and keeps the open ones. */
class EchoServer {
  readonly sockets = new Set<net.Socket>()
  accepted = 0
  readonly #server = net.createServer((socket) => {
    this.accepted++
    this.sockets.add(socket)
    socket.on('error', () => undefined)
    socket.on('close', () => this.sockets.delete(socket))
    socket.pipe(socket)
  })

  async listen(): Promise<number> {
    this.#server.listen(0, '127.0.0.1')
    await once(this.#server, 'listening')
    return (this.#server.address() as net.AddressInfo).port
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    const closed = once(this.#server, 'close')
    this.#server.close()
    await closed
  }
}

/** A client connection that collects what it receives. */
class Client {
  readonly socket: net.Socket
  received = ''
  readonly closed: Promise<void>
  /** Wakes `receive` on each chunk and at the close. */
  #wake: () => void = () => undefined

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port })
    this.socket.setEncoding('utf8')
    this.socket.on('data', (text: string) => {
      this.received += text
      this.#wake()
    })
    this.socket.on('error', () => undefined)
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()))
    void this.closed.then(() => this.#wake())
  }

  static async open(port: number): Promise<Client> {
    const client = new Client(port)
    await once(client.socket, 'connect')
    return client
  }

  /** Resolves once `text` has arrived; rejects after `ms` or when the connection closes first. */
  receive(text: string, ms = 2_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(`after ${ms} ms`), ms)
      const fail = (why: string) => {
        clearTimeout(timer)
        reject(new Error(`received ${JSON.stringify(this.received)}, not ${JSON.stringify(text)}, ${why}`))
      }
      this.#wake = () => {
        if (this.received.includes(text)) {
          clearTimeout(timer)
          resolve()
        } else if (this.socket.destroyed) fail('and the connection closed')
      }
      this.#wake()
    })
  }

  /** Resolves once the connection is closed; rejects after `ms`. */
  async closedWithin(ms = 2_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms)
    })
    try {
      await Promise.race([this.closed, late])
    } finally {
      clearTimeout(timer)
    }
  }
}

/** Sleeps for a bounded negative check ("nothing arrives within ms"). */
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

let echo: EchoServer
let proxy: FaultProxy
let clients: Client[]

beforeEach(async () => {
  echo = new EchoServer()
  const port = await echo.listen()
  proxy = await FaultProxy.start({ host: '127.0.0.1', port })
  clients = []
})

afterEach(async () => {
  for (const client of clients) client.socket.destroy()
  await proxy.close()
  await echo.close()
})

async function connect(): Promise<Client> {
  const client = await Client.open(proxy.port)
  clients.push(client)
  return client
}

it('forwards bytes both ways; close() leaves nothing open: the port refuses, the server sees its connections end', async () => {
  const [a, b] = [await connect(), await connect()]
  a.socket.write('hello')
  b.socket.write('world')
  await a.receive('hello')
  await b.receive('world')
  expect(proxy.stats).toMatchObject({ accepted: 2, open: 2 })
  expect(proxy.urlFor('redis://10.1.2.3:6379/0')).toBe(`redis://127.0.0.1:${proxy.port}/0`)

  await proxy.close()
  await Promise.all([a.closedWithin(), b.closedWithin()])
  const refused = net.connect({ host: '127.0.0.1', port: proxy.port })
  const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException]
  expect(error.code).toBe('ECONNREFUSED')
  expect(echo.sockets.size).toBe(0)
})

it('latency delays each direction and keeps the order of the chunks', async () => {
  const client = await connect()
  proxy.latency(100)
  const sent = Date.now()
  for (let i = 0; i < 20; i++) client.socket.write(`${i},`)
  const all = Array.from({ length: 20 }, (_, i) => `${i},`).join('')
  await client.receive(all)
  expect(Date.now() - sent).toBeGreaterThanOrEqual(195)
  expect(client.received).toBe(all)

  proxy.latency(0)
  const fast = Date.now()
  client.socket.write('now')
  await client.receive('now')
  expect(Date.now() - fast).toBeLessThan(195)
})

it('cut() resets every open connection; the next connection goes through', async () => {
  const [a, b] = [await connect(), await connect()]
  expect(proxy.cut()).toBe(2)
  await Promise.all([a.closedWithin(), b.closedWithin()])
  expect(proxy.stats).toMatchObject({ open: 0, cut: 2 })

  const c = await connect()
  c.socket.write('after')
  await c.receive('after')
})

it("admit('refuse') resets new connections before they reach the server; open ones go on", async () => {
  const open = await connect()
  proxy.admit('refuse')
  const refused = new Client(proxy.port)
  clients.push(refused)
  await refused.closedWithin()
  expect(echo.accepted).toBe(1)
  expect(proxy.stats.refused).toBe(1)

  open.socket.write('still')
  await open.receive('still')
  proxy.admit('accept')
  const next = await connect()
  next.socket.write('again')
  await next.receive('again')
})

it("admit('drop') holds new connections unanswered; admitting again closes them, and the server never saw them", async () => {
  proxy.admit('drop')
  const dropped = await connect()
  dropped.socket.write('anyone?')
  await pause(150)
  expect(dropped.received).toBe('')
  expect(echo.accepted).toBe(0)

  proxy.admit('accept')
  await dropped.closedWithin()
  expect(echo.accepted).toBe(0)
  const next = await connect()
  next.socket.write('here')
  await next.receive('here')
})

it('a black hole holds bytes until it ends, then delivers them in order on the same connection', async () => {
  const client = await connect()
  proxy.hold(true)
  client.socket.write('one,')
  client.socket.write('two,')
  await pause(150)
  expect(client.received).toBe('')

  proxy.hold(false)
  await client.receive('one,two,')
  expect(client.received).toBe('one,two,')
  expect(proxy.stats.open).toBe(1)
})

it('fault windows end by themselves and are logged; close() ends a window under way', async () => {
  const client = await connect()
  const started = Date.now()
  const window = proxy.blackholeFor(200)
  client.socket.write('late')
  await window
  await client.receive('late')
  expect(Date.now() - started).toBeGreaterThanOrEqual(195)

  await proxy.refuseFor(50)
  const next = await connect()
  next.socket.write('in')
  await next.receive('in')
  expect(proxy.faults.map((f) => [f.kind, f.value])).toEqual([
    ['blackhole', 200],
    ['refuse', 50],
  ])

  const long = proxy.latencyFor(60_000, 10)
  await proxy.close()
  await long
})
