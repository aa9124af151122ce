import { execFile, execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

import pg from 'pg'

import { PulseError } from '../../runtime/errors.js'
import { Destroyable } from '../../runtime/lifecycle.js'
import { postgresBinDir } from './binaries.js'
import { freePort } from './free-port.js'
import { GuardedProcess } from './guarded-process.js'
import { kLocalServerCloseTimeoutMs, readLog, removeOnExit } from './redis-server.js'

const execFileAsync = promisify(execFile)

export interface LocalPostgresOptions {
  /** Data folder; a new temporary folder (removed on stop) when absent. Initialised when empty. */
  dir?: string
  /** TCP port on 127.0.0.1; a free one when absent. */
  port?: number
  /** Trade durability for speed (fsync off): for tests, never for data you keep. */
  fast?: boolean
  readyTimeoutMs?: number
}

/**
 * How `stop()` shuts the server down (`pg_ctl stop -m <mode>`): `fast` rolls back open transactions,
 * disconnects the clients and writes a checkpoint; `immediate` ends every server process at once, as a
 * crash does, and the next start runs crash recovery from the WAL.
 */
export type PostgresStopMode = 'fast' | 'immediate'

export interface RunAs {
  uid: number
  gid: number
}

/**
 * A PostgreSQL cluster on 127.0.0.1 for tests and `pulse dev`, guarded so that it stops when its owner
 * dies. PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user (made
 * when missing). `stop(mode)` keeps the cluster and `start()` brings it back on the same port and data
 * folder (`restart(mode)` does both); `close()` stops it and removes a temporary folder. It is a
 * `Destroyable` (runtime/lifecycle.ts): `close()` is memoised and final (`start()` after it throws
 * `ClosedError`), bounded by `kLocalServerCloseTimeoutMs`; `destroy()` kills the server at once.
 */
export class LocalPostgres extends Destroyable {
  readonly dir: string
  readonly port: number
  readonly #temporary: boolean
  readonly #fast: boolean
  readonly #readyTimeoutMs: number
  readonly #runAs: RunAs | undefined
  #process: GuardedProcess | undefined

  private constructor(dir: string, port: number, temporary: boolean, options: LocalPostgresOptions) {
    super({ name: `postgres on port ${port}`, closeTimeoutMs: kLocalServerCloseTimeoutMs })
    this.dir = dir
    this.port = port
    this.#temporary = temporary
    this.#fast = options.fast ?? false
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 30_000
    this.#runAs = process.getuid?.() === 0 ? postgresUser() : undefined
  }

  static async start(options: LocalPostgresOptions = {}): Promise<LocalPostgres> {
    const temporary = options.dir === undefined
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'pulse-pg-'))
    const server = new LocalPostgres(dir, options.port ?? (await freePort()), temporary, options)
    if (temporary) removeOnExit(dir)
    try {
      await server.#init()
      await server.start()
    } catch (error) {
      await server.close().catch(() => undefined)
      throw error
    }
    return server
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`
  }

  /** Starts the server again after `stop()` (a no-op while it runs); refused after `close()`. */
  async start(): Promise<void> {
    this.assertOpen('start')
    if (this.#process?.running === true) return
    const settings = this.#fast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []
    this.#process = new GuardedProcess({
      command: join(postgresBinDir(), 'postgres'),
      args: [
        '-D',
        this.dir,
        '-p',
        String(this.port),
        '-k',
        this.dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'max_connections=300',
        ...settings,
      ],
      stopSignal: 'INT',
      dir: this.#temporary ? this.dir : '',
      logFile: join(this.dir, 'postgres.log'),
      ...this.#runAs,
    })
    await this.#waitReady()
  }

  /** Whether the server process runs. */
  get running(): boolean {
    return this.#process?.running === true
  }

  /** Stops the server (a fast shutdown by default, see `PostgresStopMode`) and keeps the cluster. */
  async stop(mode: PostgresStopMode = 'fast'): Promise<void> {
    // The guard stops the server with SIGINT, a fast shutdown; pg_ctl stops it the other way first.
    if (mode === 'immediate' && this.running) await this.#pgCtlStop(mode)
    await this.#process?.stop('keep')
  }

  /** `stop(mode)`, then `start()`: the same port, the same cluster. */
  async restart(mode: PostgresStopMode = 'fast'): Promise<void> {
    await this.stop(mode)
    await this.start()
  }

  /** Stops the server; a temporary cluster is removed (also after a `stop()`). */
  protected async onClose(): Promise<void> {
    await this.#process?.stop('remove')
    if (this.#temporary) rmSync(this.dir, { recursive: true, force: true })
  }

  protected override async onDestroy(): Promise<void> {
    await this.#process?.kill()
    if (this.#temporary) rmSync(this.dir, { recursive: true, force: true })
  }

  async #pgCtlStop(mode: PostgresStopMode): Promise<void> {
    const args = ['stop', '-D', this.dir, '-m', mode, '-w', '-t', String(Math.ceil(this.#readyTimeoutMs / 1_000))]
    await execFileAsync(join(postgresBinDir(), 'pg_ctl'), args, { ...this.#runAs, cwd: this.dir }).catch(
      (err: unknown) => {
        const stderr = (err as { stderr?: unknown }).stderr
        throw new PulseError(
          'PULSE_ERR_INTERNAL',
          `pg_ctl stop -m ${mode} failed in ${this.dir}: ${typeof stderr === 'string' ? stderr.trim() : ''}`,
          { cause: err },
        )
      },
    )
  }

  async #init(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    if (this.#runAs !== undefined) chownSync(this.dir, this.#runAs.uid, this.#runAs.gid)
    if (existsSync(join(this.dir, 'PG_VERSION'))) return
    const args = [
      '-D',
      this.dir,
      '-U',
      'postgres',
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ]
    await execFileAsync(join(postgresBinDir(), 'initdb'), args, { ...this.#runAs, cwd: this.dir }).catch(
      (err: unknown) => {
        const stderr = (err as { stderr?: unknown }).stderr
        const hint =
          this.#runAs === undefined
            ? ''
            : ' (as root the cluster belongs to the postgres user: every folder above it must be reachable by that user)'
        throw new PulseError(
          'PULSE_ERR_INTERNAL',
          `initdb failed in ${this.dir}${hint}: ${typeof stderr === 'string' ? stderr.trim() : ''}`,
          { cause: err },
        )
      },
    )
  }

  /** Waits until the server answers; else stops it (keeping its cluster) and throws with its log. */
  async #waitReady(): Promise<void> {
    const deadline = Date.now() + this.#readyTimeoutMs
    while (Date.now() < deadline) {
      if (this.#process?.running !== true) break
      if (await canQuery(this.url)) return
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    this.assertOpen('start')
    const log = readLog(join(this.dir, 'postgres.log'))
    await this.#process?.stop('keep')
    throw new PulseError('PULSE_ERR_INTERNAL', `postgres did not start on port ${this.port}:\n${log}`)
  }
}

/** True when `url` answers `SELECT 1` (within a second to connect). */
export async function canQuery(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 })
  client.on('error', () => undefined)
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** The account PostgreSQL (and PgBouncer) run as when we are root: `postgres`, created when missing. */
export function postgresUser(): RunAs {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim())
  try {
    return { uid: id('-u'), gid: id('-g') }
  } catch {
    execFileSync('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      'postgres',
    ])
    return { uid: id('-u'), gid: id('-g') }
  }
}
