/**
 * A TCP proxy for fault injection: processes under test connect to it instead of their server, and the
 * scenario degrades the path between them.
 *
 *   const proxy = await FaultProxy.start({ host: '127.0.0.1', port: 5432 })
 *   const url = proxy.urlFor(databaseUrl)      // the same URL, through the proxy
 *   proxy.latency(100)                         // every chunk waits 100 ms, each way, in order
 *   proxy.cut()                                // resets every open connection
 *   proxy.admit('refuse')                      // new connections are reset at once ('drop': held, unanswered)
 *   proxy.hold(true)                           // black hole: bytes are held, not forwarded, until hold(false)
 *   await proxy.close()                        // stops listening and closes every socket and timer
 *
 * It listens on a free loopback port. Held bytes are delivered in order when the hold ends, as TCP
 * delivers what it retransmitted once a partition heals. `faults` logs each fault as it is applied.
 */
import { once } from 'node:events'
import net from 'node:net'

export interface ProxyTarget {
  readonly host: string
  readonly port: number
}

/** What happens to a new connection. */
export type Admission = 'accept' | 'refuse' | 'drop'

export interface FaultRecord {
  readonly kind: 'latency' | 'cut' | 'refuse' | 'drop' | 'blackhole'
  /** ms since the proxy started. */
  readonly at: number
  /** The latency set, the connections cut, or the window's length. */
  readonly value: number
}

export interface FaultProxyStats {
  /** Connections forwarded to the target. */
  readonly accepted: number
  /** Connections open now. */
  readonly open: number
  /** Connections reset by `cut()`. */
  readonly cut: number
  /** New connections refused or dropped. */
  readonly refused: number
}

/** A chunk waiting for its delivery time. */
interface Queued {
  readonly due: number
  readonly chunk: Buffer
}

/** Shared state a pipe reads on each delivery. */
interface PathState {
  latencyMs: number
  holding: boolean
}

/** One direction of a connection: chunks wait for their due time and for the end of a hold, in order. */
class Pipe {
  readonly #from: net.Socket
  readonly #to: net.Socket
  readonly #path: PathState
  readonly #queue: Queued[] = []
  #timer: NodeJS.Timeout | undefined
  #ending = false
  #stopped = false

  constructor(from: net.Socket, to: net.Socket, path: PathState) {
    this.#from = from
    this.#to = to
    this.#path = path
    from.on('data', (chunk: Buffer) => this.#push(chunk))
    from.on('end', () => this.#end())
    to.on('drain', () => from.resume())
  }

  /** Delivers what is due and not held; arms a timer for the next chunk. */
  pump(): void {
    if (this.#stopped) return
    this.#clearTimer()
    while (this.#queue.length > 0 && !this.#path.holding) {
      const head = this.#queue[0] as Queued
      const wait = head.due - Date.now()
      if (wait > 0) {
        this.#timer = setTimeout(() => this.pump(), wait)
        return
      }
      this.#queue.shift()
      if (!this.#to.write(head.chunk)) this.#from.pause()
    }
    if (this.#queue.length === 0 && this.#ending) this.#to.end()
  }

  stop(): void {
    this.#stopped = true
    this.#clearTimer()
    this.#queue.length = 0
  }

  #push(chunk: Buffer): void {
    this.#queue.push({ due: Date.now() + this.#path.latencyMs, chunk })
    if (this.#queue.length === 1) this.pump()
  }

  #end(): void {
    this.#ending = true
    this.pump()
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }
}

/** A client connection and its upstream one. */
class Link {
  readonly #client: net.Socket
  readonly #server: net.Socket
  readonly #pipes: readonly Pipe[]
  #closed = false

  constructor(client: net.Socket, target: ProxyTarget, path: PathState, onClose: (link: Link) => void) {
    this.#client = client
    this.#server = net.connect({ host: target.host, port: target.port })
    this.#pipes = [new Pipe(client, this.#server, path), new Pipe(this.#server, client, path)]
    for (const socket of [client, this.#server]) {
      socket.on('error', () => this.destroy())
      socket.on('close', () => {
        this.destroy()
        onClose(this)
      })
    }
  }

  pump(): void {
    for (const pipe of this.#pipes) pipe.pump()
  }

  /** Resets both sockets (RST), as a network failure does. */
  reset(): void {
    this.#stop()
    for (const socket of [this.#client, this.#server]) resetSocket(socket)
  }

  destroy(): void {
    this.#stop()
    this.#client.destroy()
    this.#server.destroy()
  }

  #stop(): void {
    if (this.#closed) return
    this.#closed = true
    for (const pipe of this.#pipes) pipe.stop()
  }
}

function resetSocket(socket: net.Socket): void {
  if (socket.destroyed) return
  if (socket.pending) socket.destroy()
  else socket.resetAndDestroy()
}

/** Reads `host:port` of a URL (`redis://`, `postgres://`, …). */
export function targetOf(url: string): ProxyTarget {
  const parsed = new URL(url)
  return { host: parsed.hostname, port: Number(parsed.port) }
}

export class FaultProxy {
  readonly host = '127.0.0.1'
  readonly target: ProxyTarget
  readonly #server: net.Server
  readonly #links = new Set<Link>()
  readonly #dropped = new Set<net.Socket>()
  readonly #path: PathState = { latencyMs: 0, holding: false }
  /** Fault windows under way: their timers, and how each resolves its caller when the proxy closes. */
  readonly #windows = new Map<NodeJS.Timeout, () => void>()
  readonly #faults: FaultRecord[] = []
  readonly #started = Date.now()
  #port = 0
  #admission: Admission = 'accept'
  #stats = { accepted: 0, cut: 0, refused: 0 }
  #closing: Promise<void> | undefined

  private constructor(target: ProxyTarget) {
    this.target = target
    this.#server = net.createServer((socket) => this.#onConnection(socket))
  }

  /** Listens on a free loopback port, forwarding to `target` (a `{ host, port }` or a URL). */
  static async start(target: ProxyTarget | string): Promise<FaultProxy> {
    const proxy = new FaultProxy(typeof target === 'string' ? targetOf(target) : target)
    proxy.#server.listen(0, proxy.host)
    await once(proxy.#server, 'listening')
    proxy.#port = (proxy.#server.address() as net.AddressInfo).port
    return proxy
  }

  /** The loopback port it listens on (kept after `close()`). */
  get port(): number {
    return this.#port
  }

  /** `url` with its host and port replaced by the proxy's. */
  urlFor(url: string): string {
    const parsed = new URL(url)
    parsed.hostname = this.host
    parsed.port = String(this.port)
    return parsed.toString()
  }

  get stats(): FaultProxyStats {
    return { ...this.#stats, open: this.#links.size }
  }

  /** The faults applied so far, oldest first. */
  get faults(): readonly FaultRecord[] {
    return this.#faults
  }

  /** Delays every chunk that arrives from now on by `ms`, in each direction (0: none). */
  latency(ms: number): void {
    this.#path.latencyMs = ms
    if (ms > 0) this.#log('latency', ms)
  }

  /** Resets every open connection; returns how many. New connections are admitted as before. */
  cut(): number {
    const links = [...this.#links]
    for (const link of links) link.reset()
    this.#stats.cut += links.length
    this.#log('cut', links.length)
    return links.length
  }

  /** Decides what happens to new connections: forwarded, reset at once, or held unanswered ('drop'). */
  admit(admission: Admission, forMs = 0): void {
    this.#admission = admission
    if (admission === 'accept') this.#releaseDropped()
    else this.#log(admission, forMs)
  }

  /** Starts (true) or ends (false) a black hole: bytes are held, then delivered in order when it ends. */
  hold(on: boolean, forMs = 0): void {
    this.#path.holding = on
    if (on) this.#log('blackhole', forMs)
    else for (const link of this.#links) link.pump()
  }

  /** `latency(ms)` for `forMs`, then none; resolves when the window ends. */
  latencyFor(forMs: number, ms: number): Promise<void> {
    this.latency(ms)
    return this.#window(forMs, () => {
      this.#path.latencyMs = 0
    })
  }

  /** Refuses (or drops) new connections for `forMs`; resolves when they are admitted again. */
  refuseFor(forMs: number, admission: 'refuse' | 'drop' = 'refuse'): Promise<void> {
    this.admit(admission, forMs)
    return this.#window(forMs, () => this.admit('accept'))
  }

  /** A black hole of `forMs`; resolves when the held bytes are released. */
  blackholeFor(forMs: number): Promise<void> {
    this.hold(true, forMs)
    return this.#window(forMs, () => this.hold(false))
  }

  /** Stops listening and closes every connection and timer; idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    for (const [timer, resolve] of this.#windows) {
      clearTimeout(timer)
      resolve()
    }
    this.#windows.clear()
    const closed = once(this.#server, 'close')
    this.#server.close()
    for (const link of this.#links) link.destroy()
    for (const socket of this.#dropped) socket.destroy()
    this.#dropped.clear()
    await closed
  }

  #onConnection(socket: net.Socket): void {
    socket.on('error', () => socket.destroy())
    if (this.#closing !== undefined) return void socket.destroy()
    if (this.#admission !== 'accept') return this.#refuse(socket)
    this.#stats.accepted++
    const link = new Link(socket, this.target, this.#path, (l) => this.#links.delete(l))
    this.#links.add(link)
  }

  #refuse(socket: net.Socket): void {
    this.#stats.refused++
    if (this.#admission === 'refuse') return resetSocket(socket)
    this.#dropped.add(socket)
    socket.on('close', () => this.#dropped.delete(socket))
  }

  /** Closes the connections held unanswered while dropping: they never reached the target. */
  #releaseDropped(): void {
    for (const socket of this.#dropped) resetSocket(socket)
    this.#dropped.clear()
  }

  /** Runs `end` after `ms` and resolves then, or resolves at once (without `end`) when the proxy closes. */
  #window(ms: number, end: () => void): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#windows.delete(timer)
        end()
        resolve()
      }, ms)
      this.#windows.set(timer, resolve)
    })
  }

  #log(kind: FaultRecord['kind'], value: number): void {
    this.#faults.push({ kind, at: Date.now() - this.#started, value })
  }
}
