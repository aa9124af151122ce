// An order service on node:http with the job queue's workers in the same process. POST /orders
// validates a JSON body and enqueues a `process-order` job; GET /prices/:sku answers from the replicated
// map `prices`, a synchronous local read. The queue's protocol work (claims, acks, lease renewal) runs in
// actors on the runtime's threads; the handlers run here, on the event loop that serves HTTP.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

import type { JobQueue } from 'pulse-runtime/jobs'
import type { AttachedReplicatedMap } from 'pulse-runtime/rmap'
import { Runtime } from 'pulse-runtime/runtime'

/** The largest POST body read; a bigger one is answered 413. */
export const kMaxBodyBytes = 64 * 1024
export const kOrderJob = 'process-order'
const kSku = /^[A-Za-z0-9_-]{1,64}$/
const kMaxQuantity = 1_000

export interface Order {
  readonly sku: string
  readonly quantity: number
}

/** What the HTTP layer needs: where orders go and where prices come from (pulse here; BullMQ in the bench). */
export interface OrderBackend {
  enqueueOrder(order: Order): Promise<string>
  price(sku: string): string | undefined
}

/** Where a handler reads prices and counts units sold (`sold:<sku>`). */
export interface PriceBook {
  get(key: string): string | undefined
  inc(key: string, delta: number): Promise<number> | number
}

export interface ServiceOptions {
  redisUrl: string
  databaseUrl: string
  /** 0 picks a free port. */
  port: number
  /** The queue's PostgreSQL schema. @default 'pulse' */
  schema?: string | undefined
  /** The replicated map of prices. @default 'prices' */
  map?: string | undefined
  /** CPU each order takes in its handler, in ms (a busy loop standing for real work). @default 1 */
  workMs?: number | undefined
  /** Handlers running at once. @default 10 */
  concurrency?: number | undefined
  /** Closes the service when aborted. */
  signal?: AbortSignal | undefined
}

export interface Service {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly jobs: JobQueue
  readonly prices: AttachedReplicatedMap
  close(): Promise<void>
}

export interface HttpListener {
  readonly url: string
  close(): Promise<void>
}

class HttpError extends Error {
  readonly status: number

  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

/** The order in `value`, or why it is not one. */
export function parseOrder(value: unknown): Order | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the body must be a JSON object'
  const { sku, quantity, ...rest } = value as Record<string, unknown>
  const extra = Object.keys(rest)
  if (extra.length > 0) return `unknown fields: ${extra.join(', ')}`
  if (typeof sku !== 'string' || !kSku.test(sku)) return 'sku must be 1–64 letters, digits, _ or -'
  if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1 || quantity > kMaxQuantity)
    return `quantity must be an integer from 1 to ${kMaxQuantity}`
  return { sku, quantity }
}

/** Holds the thread for `ms` of CPU: the stand-in for the work a real handler does. */
export function burnCpu(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {
    // busy
  }
}

/** The `process-order` handler: checks the order, works `workMs`, counts the units sold. */
export async function processOrder(args: unknown, book: PriceBook, workMs: number): Promise<void> {
  const order = parseOrder(args)
  if (typeof order === 'string') throw new Error(`bad order: ${order}`)
  if (book.get(order.sku) === undefined) throw new Error(`no price for ${order.sku}`)
  burnCpu(workMs)
  await book.inc(`sold:${order.sku}`, order.quantity)
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  res.end(text)
}

/** The body as text, at most `kMaxBodyBytes` (413 past it, from the header or while reading). */
function readBody(req: IncomingMessage): Promise<string> {
  if (Number(req.headers['content-length'] ?? 0) > kMaxBodyBytes)
    return Promise.reject(new HttpError(413, `the body is over ${kMaxBodyBytes} bytes`))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > kMaxBodyBytes) {
        req.removeAllListeners('data')
        reject(new HttpError(413, `the body is over ${kMaxBodyBytes} bytes`))
      } else chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

async function postOrder(backend: OrderBackend, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body: unknown
  try {
    body = JSON.parse(await readBody(req))
  } catch (error) {
    if (error instanceof HttpError) throw error
    throw new HttpError(400, 'the body must be JSON')
  }
  const order = parseOrder(body)
  if (typeof order === 'string') throw new HttpError(400, order)
  if (backend.price(order.sku) === undefined) throw new HttpError(400, `unknown sku ${order.sku}`)
  sendJson(res, 202, { id: await backend.enqueueOrder(order) })
}

function getPrice(backend: OrderBackend, sku: string, res: ServerResponse): void {
  const price = kSku.test(sku) ? backend.price(sku) : undefined
  if (price === undefined) throw new HttpError(404, `no price for ${sku}`)
  sendJson(res, 200, { sku, price: Number(price) })
}

/** A path segment decoded; one with a malformed escape names no sku. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new HttpError(404, 'not found')
  }
}

async function route(backend: OrderBackend, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname
  if (path === '/orders') {
    if (req.method !== 'POST') throw new HttpError(405, 'use POST')
    return postOrder(backend, req, res)
  }
  if (path.startsWith('/prices/')) {
    if (req.method !== 'GET') throw new HttpError(405, 'use GET')
    return getPrice(backend, decodeSegment(path.slice('/prices/'.length)), res)
  }
  throw new HttpError(404, 'not found')
}

function answerError(res: ServerResponse, error: unknown): void {
  const status = error instanceof HttpError ? error.status : 500
  if (status === 500) console.error('request failed:', error)
  if (res.headersSent) return void res.destroy()
  // After a 413 the rest of the body is not read: the connection closes behind the answer.
  const headers: Record<string, string> = status === 413 ? { connection: 'close' } : {}
  sendJson(res, status, { error: error instanceof HttpError ? error.message : 'internal error' }, headers)
}

/** Serves `backend` over HTTP on 127.0.0.1:`port`. */
export function listenOrders(backend: OrderBackend, port: number): Promise<HttpListener> {
  const server = createServer((req, res) => {
    route(backend, req, res).catch((error: unknown) => answerError(res, error))
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      const { port: bound } = server.address() as AddressInfo
      resolve({ url: `http://127.0.0.1:${bound}`, close: () => closeServer(server) })
    })
  })
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error === undefined ? resolve() : reject(error)))
    server.closeIdleConnections()
  })
}

/** Starts the runtime (queue + map), the workers and the HTTP server; `close()` stops them in reverse. */
export async function startService(options: ServiceOptions): Promise<Service> {
  const { signal } = options
  const rt = await Runtime.start({
    redis: options.redisUrl,
    postgres: options.databaseUrl,
    jobs: { schema: options.schema ?? 'pulse' },
    ...(signal === undefined ? {} : { signal }),
  })
  try {
    const prices = await rt.map(options.map ?? 'prices')
    const workMs = options.workMs ?? 1
    rt.jobs.register(kOrderJob, (args) => processOrder(args, prices, workMs))
    await rt.jobs.start({ concurrency: options.concurrency ?? 10 })
    const http = await listenOrders(
      { enqueueOrder: (order) => rt.jobs.enqueue(kOrderJob, order), price: (sku) => prices.get(sku) },
      options.port,
    )
    let closing: Promise<void> | undefined
    const close = (): Promise<void> => (closing ??= http.close().finally(() => rt.close()))
    signal?.addEventListener('abort', () => void close().catch(() => undefined), { once: true })
    if (signal?.aborted === true) {
      await close()
      signal.throwIfAborted()
    }
    return { url: http.url, jobs: rt.jobs, prices, close }
  } catch (error) {
    await rt.close().catch(() => undefined)
    throw error
  }
}
