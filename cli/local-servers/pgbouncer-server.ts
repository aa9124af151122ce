import { execFileSync } from 'node:child_process'
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { PulseError } from '../../runtime/errors.js'
import { Destroyable } from '../../runtime/lifecycle.js'
import { pgbouncerBinary } from './binaries.js'
import { freePort } from './free-port.js'
import { GuardedProcess } from './guarded-process.js'
import { canQuery, postgresUser, type RunAs } from './postgres-server.js'
import { kLocalServerCloseTimeoutMs, readLog, removeOnExit } from './redis-server.js'

export interface LocalPgBouncerOptions {
  /** The PostgreSQL server in front of which it runs: a connection string (host, port, user, password). */
  target: string
  /**
   * `pool_mode`: `transaction` hands each transaction to any server session of the pool.
   * @default 'transaction'
   */
  poolMode?: 'transaction' | 'session'
  /**
   * Server sessions per database and user (`default_pool_size`).
   * @default 20
   */
  poolSize?: number
  /** TCP port on 127.0.0.1; a free one when absent. */
  port?: number
  readyTimeoutMs?: number
}

/**
 * A PgBouncer on 127.0.0.1 in front of a PostgreSQL server, for tests: every database of the server is
 * reachable through it (a `*` entry), with the target's user and password (`auth_type = trust` towards
 * the clients, the password in its `auth_file` towards the server). Prepared statements are not
 * carried across its server sessions (`max_prepared_statements = 0` on 1.21 and later, which know
 * the setting; earlier ones never carry them), so a named statement fails through it in transaction
 * mode, as it does through most deployed PgBouncers. It runs in a temporary folder,
 * guarded so that it stops (and the folder goes) when its owner dies; PgBouncer refuses to run as
 * root, so as root it runs as the `postgres` user, as `LocalPostgres` does. `close()` stops it: a
 * `Destroyable` (runtime/lifecycle.ts), memoised and bounded by `kLocalServerCloseTimeoutMs`;
 * `destroy()` kills it at once.
 */
export class LocalPgBouncer extends Destroyable {
  readonly dir: string
  readonly port: number
  readonly #target: URL
  readonly #readyTimeoutMs: number
  readonly #process: GuardedProcess

  private constructor(dir: string, port: number, options: LocalPgBouncerOptions) {
    super({ name: `pgbouncer on port ${port}`, closeTimeoutMs: kLocalServerCloseTimeoutMs })
    this.dir = dir
    this.port = port
    this.#target = new URL(options.target)
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 10_000
    const runAs = process.getuid?.() === 0 ? postgresUser() : undefined
    const binary = pgbouncerBinary()
    this.#writeConfig(options, runAs, knowsPreparedStatements(binary))
    this.#process = new GuardedProcess({
      command: binary,
      args: [join(dir, 'pgbouncer.ini')],
      stopSignal: 'TERM',
      dir,
      logFile: join(dir, 'pgbouncer.log'),
      ...runAs,
    })
  }

  static async start(options: LocalPgBouncerOptions): Promise<LocalPgBouncer> {
    // Before any folder or process exists: a missing binary fails with its hint alone.
    pgbouncerBinary()
    const dir = mkdtempSync(join(tmpdir(), 'pulse-pgbouncer-'))
    removeOnExit(dir)
    const server = new LocalPgBouncer(dir, options.port ?? (await freePort()), options)
    try {
      await server.#waitReady()
    } catch (error) {
      await server.close().catch(() => undefined)
      throw error
    }
    return server
  }

  /** The target's URL (user, password, database) with PgBouncer's address instead of the server's. */
  get url(): string {
    const url = new URL(this.#target.href)
    url.hostname = '127.0.0.1'
    url.port = String(this.port)
    return url.toString()
  }

  /** Stops PgBouncer (its clients' connections close) and removes its folder. */
  protected async onClose(): Promise<void> {
    await this.#process.stop('remove')
    rmSync(this.dir, { recursive: true, force: true })
  }

  protected override async onDestroy(): Promise<void> {
    await this.#process.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }

  #writeConfig(options: LocalPgBouncerOptions, runAs: RunAs | undefined, preparedSetting: boolean): void {
    const target = this.#target
    const user = decodeURIComponent(target.username === '' ? 'postgres' : target.username)
    const password = decodeURIComponent(target.password)
    const quote = (value: string) => `"${value.replaceAll('"', '""')}"`
    const ini = [
      '[databases]',
      `* = host=${target.hostname} port=${target.port === '' ? '5432' : target.port}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${this.port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(this.dir, 'userlist.txt')}`,
      `pool_mode = ${options.poolMode ?? 'transaction'}`,
      `default_pool_size = ${options.poolSize ?? 20}`,
      'max_client_conn = 2000',
      'server_login_retry = 1',
      ...(preparedSetting ? ['max_prepared_statements = 0'] : []),
      '',
    ].join('\n')
    writeFileSync(join(this.dir, 'pgbouncer.ini'), ini)
    writeFileSync(join(this.dir, 'userlist.txt'), `${quote(user)} ${quote(password)}\n`, { mode: 0o600 })
    if (runAs !== undefined) {
      for (const path of [this.dir, join(this.dir, 'pgbouncer.ini'), join(this.dir, 'userlist.txt')])
        chownSync(path, runAs.uid, runAs.gid)
    }
  }

  async #waitReady(): Promise<void> {
    const deadline = Date.now() + this.#readyTimeoutMs
    while (Date.now() < deadline) {
      if (!this.#process.running) break
      if (await canQuery(this.url)) return
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    const log = readLog(join(this.dir, 'pgbouncer.log'))
    throw new PulseError('PULSE_ERR_INTERNAL', `pgbouncer did not start on port ${this.port}:\n${log}`)
  }
}

/** Whether `binary` knows `max_prepared_statements` (PgBouncer 1.21 and later; earlier ones refuse the key). */
function knowsPreparedStatements(binary: string): boolean {
  const version = /PgBouncer (\d+)\.(\d+)/.exec(execFileSync(binary, ['--version'], { encoding: 'utf8' }))
  if (version === null) return false
  const [major, minor] = [Number(version[1]), Number(version[2])]
  return major > 1 || (major === 1 && minor >= 21)
}
