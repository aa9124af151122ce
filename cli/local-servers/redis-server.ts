import { mkdirSync, mkdtempSync, rmSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { PulseError } from '../../runtime/errors.js'
import { Destroyable } from '../../runtime/lifecycle.js'
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
 * How `stop()` ends the server: `shutdown` is SIGTERM, which Redis handles as SHUTDOWN (it flushes the
 * append-only file, saves a snapshot when save points are set, and exits); `kill` is SIGKILL, a crash:
 * what the append-only file holds at that moment is all a restart finds.
 */
export type RedisStopMode = 'shutdown' | 'kill'

/** The bound of an embedded server's `close()`; past it the server is killed (`destroy`). */
export const kLocalServerCloseTimeoutMs = 30_000

/**
 * A redis-server on 127.0.0.1 for tests and `pulse dev`, guarded so that it stops when its owner dies.
 * `stop(mode)` keeps the data folder and `start()` brings the server back on the same port and folder
 * (`restart(mode)` does both; to test reconnects); `close()` stops it and removes a temporary folder.
 * It is a `Destroyable` (runtime/lifecycle.ts): `close()` is memoised and final (`start()` after it
 * throws `ClosedError`), bounded by `kLocalServerCloseTimeoutMs`; `destroy()` kills the server at once.
 */
export class LocalRedis extends Destroyable {
  readonly dir: string
  readonly port: number
  readonly #temporary: boolean
  readonly #readyTimeoutMs: number
  readonly #persist: boolean
  readonly #extraArgs: readonly string[]
  #process: GuardedProcess | undefined

  private constructor(dir: string, port: number, temporary: boolean, options: LocalRedisOptions) {
    super({ name: `redis-server on port ${port}`, closeTimeoutMs: kLocalServerCloseTimeoutMs })
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
    try {
      await server.start()
    } catch (error) {
      await server.close().catch(() => undefined)
      throw error
    }
    return server
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Starts the server again after `stop()` (a no-op while it runs); refused after `close()`. */
  async start(): Promise<void> {
    this.assertOpen('start')
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

  /** Stops the server (a SHUTDOWN by default, see `RedisStopMode`) and keeps its folder. */
  async stop(mode: RedisStopMode = 'shutdown'): Promise<void> {
    if (mode === 'kill' && this.running) {
      // The guard knows only its own pid: the server tells its own.
      const pid = Number(await infoField(this.port, 'process_id'))
      if (!Number.isInteger(pid) || pid <= 0)
        throw new PulseError('PULSE_ERR_INTERNAL', `redis-server on port ${this.port} did not tell its pid`)
      process.kill(pid, 'SIGKILL')
    }
    await this.#process?.stop('keep')
  }

  /** `stop(mode)`, then `start()`: the same port, the same folder. */
  async restart(mode: RedisStopMode = 'shutdown'): Promise<void> {
    await this.stop(mode)
    await this.start()
  }

  /** Stops the server; a temporary folder is removed (also after a `stop()`). */
  protected async onClose(): Promise<void> {
    await this.#process?.stop('remove')
    if (this.#temporary) rmSync(this.dir, { recursive: true, force: true })
  }

  protected override async onDestroy(): Promise<void> {
    await this.#process?.kill()
    if (this.#temporary) rmSync(this.dir, { recursive: true, force: true })
  }

  /** Waits until the server answers; else stops it (keeping its folder) and throws with its log. */
  async #waitReady(): Promise<void> {
    const deadline = Date.now() + this.#readyTimeoutMs
    while (Date.now() < deadline) {
      if (this.#process?.running !== true) break
      if (await ping(this.port)) return
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    this.assertOpen('start')
    const log = readLog(join(this.dir, 'redis.log'))
    await this.#process?.stop('keep')
    throw new PulseError('PULSE_ERR_INTERNAL', `redis-server did not start on port ${this.port}:\n${log}`)
  }
}

/** One PING over a raw socket: true when the server answers +PONG. */
async function ping(port: number): Promise<boolean> {
  const reply = await rawCommand(port, 'PING', (r) => r.includes('\r\n'))
  return reply?.startsWith('+PONG') === true
}

/** A field of `INFO server` (e.g. `process_id`) over a raw socket; undefined when it did not answer. */
async function infoField(port: number, field: string): Promise<string | undefined> {
  // A bulk reply: `$<length>\r\n<text>\r\n`.
  const complete = (r: string) => {
    const header = /^\$(\d+)\r\n/.exec(r)
    return header !== null && Buffer.byteLength(r, 'latin1') >= header[0].length + Number(header[1]) + 2
  }
  const reply = await rawCommand(port, 'INFO server', complete)
  return new RegExp(`^${field}:(.*)$`, 'm').exec(reply ?? '')?.[1]?.trim()
}

/** Sends one inline command; resolves its reply once `complete(reply)`, or undefined (no answer in 500 ms). */
function rawCommand(port: number, command: string, complete: (reply: string) => boolean): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let reply = ''
    const done = (result: string | undefined) => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(500, () => done(undefined))
    socket.once('error', () => done(undefined))
    socket.once('connect', () => socket.write(`${command}\r\n`))
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1')
      if (complete(reply)) done(reply)
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
