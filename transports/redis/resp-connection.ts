/**
 * A bare RESP2 connection for one hot command, whose replies are scanned straight from the socket's
 * bytes by a decoder the caller gives: no object per reply field (ioredis makes a Buffer per bulk
 * string, which is most of a sink reader's garbage). It does nothing else: no reconnect, no offline
 * queue, no pipelining of other commands' replies beyond order. The owner opens another when it closed
 * (`ReopeningConnection`, which asks where to connect again on every open: on a Redis Cluster the node
 * serving a key changes with a failover).
 *
 *   open(): connect ─▶ handshake (AUTH, SELECT, CLIENT SETNAME, CLIENT ID, pipelined) ─▶ open
 *   open ──socket error or end, close()──▶ closed: every pending command rejects with RedisConnectionError
 *
 * Replies arrive in command order. Bytes are kept until the head command's decoder finds its reply
 * complete (it returns undefined until then and is asked again when more bytes came). An error reply
 * (`-ERR …`) rejects the command with RedisCommandError, its prefix in `data.reply` as ioredis errors
 * are classified (errors.ts).
 */
import net from 'node:net'
import tls from 'node:tls'

import { RedisCommandError, RedisConnectionError } from '../../runtime/errors.js'
import { replyPolicy, replyPrefix } from './errors.js'

/** A reply decoded from `buf` at `start`, and where it ended. */
export interface Decoded<T> {
  readonly value: T
  readonly end: number
}

/** Decodes one reply at `start`; undefined when the bytes so far do not hold all of it. */
export type ReplyDecoder<T> = (buf: Buffer, start: number) => Decoded<T> | undefined

/** Where and how to connect (ioredis's option names, so a client's `options` can be passed). */
export interface RespEndpoint {
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly path?: string | undefined
  readonly username?: string | null | undefined
  readonly password?: string | null | undefined
  readonly db?: number | undefined
  /** TLS options; a string is an ioredis 6 TLS profile name, connected to with Node's default TLS options. */
  readonly tls?: tls.ConnectionOptions | string | undefined
  readonly connectTimeout?: number | undefined
}

interface Pending {
  readonly decode: ReplyDecoder<unknown>
  readonly resolve: (value: unknown) => void
  readonly reject: (error: Error) => void
}

const kCR = 0x0d
const kEmpty = Buffer.alloc(0)

export class RespConnection {
  /** Where it is connected. */
  readonly endpoint: RespEndpoint
  readonly #socket: net.Socket
  readonly #pending: Pending[] = []
  #buf: Buffer = kEmpty
  #pos = 0
  #closed: Error | undefined
  /** The server's CLIENT ID of this connection (for CLIENT UNBLOCK from another one). */
  id = 0

  private constructor(socket: net.Socket, endpoint: RespEndpoint) {
    this.endpoint = endpoint
    this.#socket = socket
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('error', (error) =>
      this.#fail(new RedisConnectionError(`Redis connection failed: ${error.message}`, { cause: error })),
    )
    socket.on('close', () => this.#fail(new RedisConnectionError('Redis connection closed')))
  }

  /** Connects and runs the handshake; rejects (and leaves nothing open) if any of it fails. */
  static async open(endpoint: RespEndpoint, name: string): Promise<RespConnection> {
    const socket = await connect(endpoint)
    const conn = new RespConnection(socket, endpoint)
    try {
      const steps: Promise<unknown>[] = []
      if (endpoint.password !== undefined && endpoint.password !== null && endpoint.password !== '') {
        const user = endpoint.username ?? ''
        steps.push(
          conn.call(user === '' ? ['AUTH', endpoint.password] : ['AUTH', user, endpoint.password], decodeSimple),
        )
      }
      if (endpoint.db !== undefined && endpoint.db !== 0) steps.push(conn.call(['SELECT', endpoint.db], decodeSimple))
      steps.push(conn.call(['CLIENT', 'SETNAME', name.replace(/\s/g, '_')], decodeSimple))
      // Awaited together: when a step fails, the replies after it (or the close) reject too, and each
      // rejection must have a handler.
      const [id] = await Promise.all([conn.call(['CLIENT', 'ID'], decodeSimple), ...steps])
      conn.id = Number(id)
      return conn
    } catch (error) {
      conn.close()
      throw error
    }
  }

  get closed(): boolean {
    return this.#closed !== undefined
  }

  /** Sends a command; resolves with its decoded reply. */
  call<T>(args: readonly (string | number)[], decode: ReplyDecoder<T>): Promise<T> {
    return this.send(encodeCommand(args), decode)
  }

  /** Sends a command already encoded as RESP (see `encodeCommand`). */
  send<T>(command: string, decode: ReplyDecoder<T>): Promise<T> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed)
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ decode, resolve: resolve as (value: unknown) => void, reject })
      // As bytes: a socket writes a string built by concatenation (a rope) ~5× slower than its Buffer.
      this.#socket.write(Buffer.from(command, 'utf8'))
    })
  }

  /** Drops the connection; pending commands reject with RedisConnectionError. */
  close(): void {
    this.#fail(new RedisConnectionError('Redis connection closed by its owner'))
    this.#socket.destroy()
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#pos >= this.#buf.length ? chunk : Buffer.concat([this.#buf.subarray(this.#pos), chunk])
    this.#pos = 0
    while (this.#pending.length > 0 && this.#pos < this.#buf.length) {
      const head = this.#pending[0] as Pending
      let decoded: Decoded<unknown> | undefined
      let error: Error | undefined
      try {
        if (this.#buf[this.#pos] === 0x2d) {
          const line = lineAt(this.#buf, this.#pos)
          if (line === undefined) return
          decoded = { value: undefined, end: line.end }
          error = replyError(line.text)
        } else {
          decoded = head.decode(this.#buf, this.#pos)
        }
      } catch (cause) {
        // A reply the decoder cannot read: the stream of replies is out of step, so nothing after it can be trusted.
        this.#fail(new RedisConnectionError(`unreadable Redis reply: ${(cause as Error).message}`, { cause }))
        this.#socket.destroy()
        return
      }
      if (decoded === undefined) return
      this.#pending.shift()
      this.#pos = decoded.end
      if (error === undefined) head.resolve(decoded.value)
      else head.reject(error)
    }
    if (this.#pos >= this.#buf.length) {
      this.#buf = kEmpty
      this.#pos = 0
    }
  }

  #fail(error: Error): void {
    if (this.#closed !== undefined) return
    this.#closed = error
    for (const pending of this.#pending.splice(0)) pending.reject(error)
  }
}

/** Where a `ReopeningConnection` connects: an endpoint, or a function asked before every open. */
export type EndpointSource = RespEndpoint | (() => RespEndpoint | Promise<RespEndpoint>)

/** A connection opened on first use, and again on the first use after it closed. */
export class ReopeningConnection {
  readonly #endpoint: EndpointSource
  readonly #name: string
  #conn: Promise<RespConnection> | undefined

  constructor(endpoint: EndpointSource, name: string) {
    this.#endpoint = endpoint
    this.#name = name
  }

  /** The open connection: the current one, or a new one if it closed (rejects if it cannot open). */
  async get(): Promise<RespConnection> {
    const current = this.#conn
    if (current !== undefined) {
      const conn = await current.catch(() => undefined)
      if (conn !== undefined && !conn.closed) return conn
      if (this.#conn === current) this.#conn = undefined
    }
    if (this.#conn === undefined) {
      const opening = this.#open()
      opening.catch(() => undefined)
      this.#conn = opening
    }
    return this.#conn
  }

  async #open(): Promise<RespConnection> {
    const endpoint = typeof this.#endpoint === 'function' ? await this.#endpoint() : this.#endpoint
    return RespConnection.open(endpoint, this.#name)
  }

  /** The open connection if there is one; never opens one. */
  async current(): Promise<RespConnection | undefined> {
    const conn = await this.#conn?.catch(() => undefined)
    return conn === undefined || conn.closed ? undefined : conn
  }

  close(): void {
    this.#conn?.then(
      (conn) => conn.close(),
      () => undefined,
    )
    this.#conn = undefined
  }
}

function connect(endpoint: RespEndpoint): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const timeoutMs = endpoint.connectTimeout ?? 10_000
    const target =
      endpoint.path !== undefined && endpoint.path !== ''
        ? { path: endpoint.path }
        : { host: endpoint.host ?? '127.0.0.1', port: endpoint.port ?? 6379 }
    const tlsOptions = typeof endpoint.tls === 'string' ? {} : endpoint.tls
    const socket = tlsOptions === undefined ? net.connect(target) : tls.connect({ ...tlsOptions, ...target })
    const ready = endpoint.tls === undefined ? 'connect' : 'secureConnect'
    const timer = setTimeout(() => socket.destroy(new Error(`connect timed out after ${timeoutMs} ms`)), timeoutMs)
    const onError = (error: Error) => {
      clearTimeout(timer)
      reject(new RedisConnectionError(`Redis connection failed: ${error.message}`, { cause: error }))
    }
    socket.once('error', onError)
    socket.once(ready, () => {
      clearTimeout(timer)
      socket.off('error', onError)
      resolve(socket)
    })
  })
}

/** A command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly (string | number)[]): string {
  let out = `*${args.length}\r\n`
  for (const arg of args) {
    const text = String(arg)
    out += `$${Buffer.byteLength(text)}\r\n${text}\r\n`
  }
  return out
}

function replyError(text: string): RedisCommandError {
  const reply = replyPrefix(text)
  return new RedisCommandError(text, { data: { reply, retryable: replyPolicy(reply) === 'retryable' } })
}

/** The line at `start` (without its type byte) and where the next one begins; undefined if incomplete. */
export function lineAt(buf: Buffer, start: number): { readonly text: string; readonly end: number } | undefined {
  const cr = buf.indexOf(kCR, start)
  if (cr < 0 || cr + 1 >= buf.length) return undefined
  return { text: buf.toString('utf8', start + 1, cr), end: cr + 2 }
}

/** A simple string, integer or bulk string reply (as text), or null. */
export const decodeSimple: ReplyDecoder<string | number | null> = (buf, start) => {
  const line = lineAt(buf, start)
  if (line === undefined) return undefined
  switch (buf[start]) {
    case 0x2b: // +
      return { value: line.text, end: line.end }
    case 0x3a: // :
      return { value: Number(line.text), end: line.end }
    case 0x24: {
      // $
      const length = Number(line.text)
      if (length < 0) return { value: null, end: line.end }
      if (line.end + length + 2 > buf.length) return undefined
      return { value: buf.toString('utf8', line.end, line.end + length), end: line.end + length + 2 }
    }
    default:
      throw new Error(`unexpected reply type ${JSON.stringify(String.fromCharCode(buf[start] ?? 0))}`)
  }
}
