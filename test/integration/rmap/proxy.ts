/**
 * A TCP proxy in front of a private redis-server, to cut one replica off while others keep writing:
 * `cut()` drops every proxied connection and refuses new ones (the replica sees the server as down),
 * `restore()` accepts again on the same port.
 */
import { once } from 'node:events'
import { createServer, connect } from 'node:net'
import type { Server, Socket } from 'node:net'

export class TcpProxy {
  readonly port: number
  readonly #targetPort: number
  readonly #sockets = new Set<Socket>()
  #server: Server | undefined

  private constructor(port: number, targetPort: number) {
    this.port = port
    this.#targetPort = targetPort
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const probe = createServer()
    probe.listen(0, '127.0.0.1')
    await once(probe, 'listening')
    const address = probe.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    probe.close()
    await once(probe, 'close')
    const proxy = new TcpProxy(port, targetPort)
    await proxy.restore()
    return proxy
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Accepts connections (again). */
  async restore(): Promise<void> {
    if (this.#server !== undefined) return
    const server = createServer((client) => this.#pipe(client))
    this.#server = server
    server.listen(this.port, '127.0.0.1')
    await once(server, 'listening')
  }

  /** Drops every proxied connection and stops accepting new ones. */
  async cut(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    for (const socket of this.#sockets) socket.destroy()
    this.#sockets.clear()
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  async close(): Promise<void> {
    await this.cut()
  }

  #pipe(client: Socket): void {
    const upstream = connect(this.#targetPort, '127.0.0.1')
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        this.#sockets.delete(socket)
        client.destroy()
        upstream.destroy()
      })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  }
}
