import { mkdirSync, mkdtempSync, rmSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { PulseError } from '../../runtime/errors.js'
import { redisServerBinary } from './binaries.js'
import { freePort } from './free-port.js'
import { GuardedProcess } from './guarded-process.js'

export interface LocalRedisOptions {
  /** Data folder; a new temporary folder (removed on stop) when absent. */
  dir?: string
  /** TCP port on 127.0.0.1; a free one when absent. */
  port?: number
  /** Keep data across restarts with an append-only file (for `pulse dev`; tests need none). */
  persist?: boolean
  /** More redis-server arguments (e.g. `--cluster-enabled yes`), appended to Pulse's. */
  extraArgs?: readonly string[]
  readyTimeoutMs?: number
}

/**
 * A redis-server on 127.0.0.1 for tests and `pulse dev`, guarded so that it stops when its owner dies.
 * `stop()` keeps the data folder and `start()` brings the server back on the same port (to test
 * reconnects); `close()` stops it and removes a temporary folder.
 */
export class LocalRedis {
  readonly dir: string
  readonly port: number
  readonly #temporary: boolean
  readonly #readyTimeoutMs: number
  readonly #persist: boolean
  readonly #extraArgs: readonly string[]
  #process: GuardedProcess | undefined

  private constructor(dir: string, port: number, temporary: boolean, options: LocalRedisOptions) {
    this.dir = dir
    this.port = port
    this.#temporary = temporary
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 10_000
    this.#persist = options.persist ?? false
    this.#extraArgs = options.extraArgs ?? []
  }

  static async start(options: LocalRedisOptions = {}): Promise<LocalRedis> {
    const temporary = options.dir === undefined
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'pulse-redis-'))
    mkdirSync(dir, { recursive: true })
    const server = new LocalRedis(dir, options.port ?? (await freePort()), temporary, options)
    if (temporary) removeOnExit(dir)
    await server.start()
    return server
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    if (this.#process?.running === true) return
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      this.#persist ? 'yes' : 'no',
      ...this.#extraArgs,
    ]
    this.#process = new GuardedProcess({
      command: redisServerBinary(),
      args,
      stopSignal: 'TERM',
      dir: this.#temporary ? this.dir : '',
      logFile: join(this.dir, 'redis.log'),
    })
    await this.#waitReady()
  }

  /** Whether the server process runs. */
  get running(): boolean {
    return this.#process?.running === true
  }

  /** Stops the server and keeps its folder. */
  async stop(): Promise<void> {
    await this.#process?.stop('keep')
  }

  /** Stops the server; a temporary folder is removed. */
  async close(): Promise<void> {
    await this.#process?.stop('remove')
  }

  async #waitReady(): Promise<void> {
    const deadline = Date.now() + this.#readyTimeoutMs
    while (Date.now() < deadline) {
      if (this.#process?.running !== true) break
      if (await ping(this.port)) return
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const log = readLog(join(this.dir, 'redis.log'))
    await this.close()
    throw new PulseError('PULSE_ERR_INTERNAL', `redis-server did not start on port ${this.port}:\n${log}`)
  }
}

/** One PING over a raw socket: true when the server answers +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let reply = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1')
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
    })
  })
}

export function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-20).join('\n')
  } catch {
    return '(no log)'
  }
}

/**
 * A stopped server's temporary folder is no longer watched by a guard: remove it when this process
 * exits (a running server's guard removes its own folder).
 */
export function removeOnExit(dir: string): void {
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
}
