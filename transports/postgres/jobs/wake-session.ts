/**
 * The wake-up session of a dispatcher: a connection of its own, that reconnects, in one of two roles
 * within its wake group (the dispatchers of one schema that handle the same job names; `group` is a
 * 32-bit key of those names). The group's advisory lock, held on this session, decides the role:
 *
 *   waker    holds the lock and LISTENs on the jobs channel `pulse_jobs:<schema>`, where the insert
 *            trigger notifies (migration 12: the count of the jobs a statement inserted and their
 *            names): `onJobs`. `handOver()` gives the lock to the standby that waited longest.
 *   standby  waits for the lock (`pg_advisory_lock` under `lock_timeout` kStandbyWaitMs, again and
 *            again) and LISTENs on nothing: a notification costs each listening session of the
 *            database a transaction, so only the wakers listen.
 *
 * The lock queue is the standbys' wake: a waker that hands over, closes, loses its connection or dies
 * releases the lock, and the standby first in line becomes the waker at once.
 *
 *   connecting ──connected──▶ standby ──lock granted──▶ waker ──handOver (a standby waits)──▶ standby
 *                               ▲  └──lock_timeout──▶ standby (waits again)    │
 *                               └──────────────regroup (lock released)─────────┘
 *   waker, standby ──error / end──▶ waiting ──backoff──▶ connecting
 *   any ──close()──▶ closed (the client ends; the server releases the lock with the session)
 *
 * It is a `Closeable`: `close()` resolves once the client has ended (its socket closed, so the server
 * session and its lock are gone) or after kEndWaitMs; every call returns that same promise.
 *
 * `onRole` runs after each role change (and so after each reconnection): notifications sent before a
 * waker's LISTEN went to another session or nowhere, so a new waker claims once to cover the gap (the
 * owner's poll covers the rest). Statements run one at a time, in order. The last one of a session in `pg_stat_activity` is
 * one of the fixed texts of `wakeStatements(schema)` (insights count the started workers by them).
 */
import pg from 'pg'

import { coerceError } from '../../../runtime/errors.js'
import { Closeable, withTimeout } from '../../../runtime/lifecycle.js'
import { kMaxTimerMs } from '../../../runtime/options.js'
import { type ConnectionConfig, poolConfig, retryDelayMs } from './actor-pool.js'

/**
 * How long one wait for the lock lasts before it is sent again: under the default `deadlock_timeout`
 * (1 s), so a wait never runs the deadlock check nor logs as a long lock wait. A closed standby's
 * server session ends by then at the latest.
 */
export const kStandbyWaitMs = 800

/** Bound of the wait for the client to end in `close()`. */
const kEndWaitMs = 2_000

export type WakeRole = 'waker' | 'standby'

/** A notification of the jobs channel: how many jobs one statement inserted, and their names. */
export interface JobsNotice {
  /** Unknown for a payload without it. */
  count: number | undefined
  /** Unknown when the names did not fit the payload. */
  names: string[] | undefined
}

export interface WakeSessionOptions {
  connection: ConnectionConfig
  schema: string
  group: number
  applicationName: string
  onJobs(notice: JobsNotice): void
  onRole(role: WakeRole): void
  onError(error: Error): void
}

interface WakeSql {
  jobsChannel: string
  lockTimeout: string
  waitLock: string
  listen: string
  unlisten: string
  unlock: string
  handOver: string
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`
}

/** The session's statements for `schema`: the lock is (hashtext of the jobs channel, group $1). */
function wakeSql(schema: string): WakeSql {
  const jobsChannel = `pulse_jobs:${schema}`
  const channel = `"${jobsChannel.replaceAll('"', '""')}"`
  const key1 = `hashtext(${literal(jobsChannel)})`
  const lock = `${key1}, $1::int`
  // A two-key advisory lock shows in pg_locks as classid = key 1, objid = key 2 (as oids), objsubid 2.
  const waiting = `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 2
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND classid = (${key1}::bigint & 4294967295)::oid AND objid = ($1::bigint & 4294967295)::oid`
  return {
    jobsChannel,
    lockTimeout: `SET lock_timeout = ${kStandbyWaitMs}`,
    waitLock: `SELECT pg_advisory_lock(${lock})`,
    listen: `LISTEN ${channel}`,
    unlisten: `UNLISTEN ${channel}`,
    unlock: `SELECT pg_advisory_unlock(${lock})`,
    handOver: `SELECT pg_advisory_unlock(${lock}) AS handed WHERE EXISTS (${waiting})`,
  }
}

/** Every statement a wake session of `schema` runs: its last one in `pg_stat_activity` is one of them. */
export function wakeStatements(schema: string): string[] {
  const { jobsChannel: _channel, ...statements } = wakeSql(schema)
  return Object.values(statements)
}

export function parseJobsNotice(payload: string | undefined): JobsNotice {
  let o: Record<string, unknown> = {}
  try {
    const value: unknown = JSON.parse(payload ?? '')
    if (typeof value === 'object' && value !== null) o = value as Record<string, unknown>
  } catch {
    // An empty or foreign payload: nothing known.
  }
  const names = o['names']
  return {
    count: typeof o['n'] === 'number' ? o['n'] : undefined,
    names: Array.isArray(names) && names.every((n) => typeof n === 'string') ? names : undefined,
  }
}

/** A wait for the lock that ended without it: `lock_timeout`, or a `statement_timeout` of the role. */
function waitEnded(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === '55P03' || code === '57014'
}

export class WakeSession extends Closeable {
  readonly #options: WakeSessionOptions
  readonly #sql: WakeSql
  #group: number
  #client: pg.Client | undefined
  #role: WakeRole | undefined
  /** The statements run one after another on this chain. */
  #chain: Promise<void> = Promise.resolve()
  #timer: NodeJS.Timeout | undefined
  #failures = 0

  constructor(options: WakeSessionOptions) {
    // onClose bounds its own wait (kEndWaitMs).
    super({ name: `wake session "${options.applicationName}"`, closeTimeoutMs: kMaxTimerMs })
    this.#options = options
    this.#group = options.group
    this.#sql = wakeSql(options.schema)
  }

  /** The role now; undefined while not connected. */
  get role(): WakeRole | undefined {
    return this.#role
  }

  start(): void {
    this.#connect()
  }

  /**
   * The waker gives the lock to the standby that waited longest, if one waits, and waits in line
   * itself; resolves to whether it handed over.
   */
  handOver(): Promise<boolean> {
    let handed = false
    return this.#run(async (client) => {
      if (this.#role !== 'waker') return
      const { rows } = await client.query(this.#sql.handOver, [this.#group])
      if (rows.length === 0) return
      handed = true
      await this.#standBy(client)
    }).then(() => handed)
  }

  /** Moves to another group: a waker releases its lock; then the session waits for the new group's. */
  regroup(group: number): Promise<void> {
    return this.#run(async (client) => {
      if (group === this.#group) return
      if (this.#role === 'waker') {
        await client.query(this.#sql.unlock, [this.#group])
        this.#group = group
        await this.#standBy(client)
      } else {
        this.#group = group
      }
    })
  }

  /** Ends the session: the server releases the lock (a standby's wait ends within kStandbyWaitMs). */
  protected async onClose(): Promise<void> {
    clearTimeout(this.#timer)
    const client = this.#client
    this.#client = undefined
    this.#role = undefined
    if (client !== undefined)
      await withTimeout(client.end(), kEndWaitMs, () => new Error('LISTEN client did not end')).catch(() => undefined)
  }

  /** Runs `step` on the session after the steps before it (none once closed); a failed statement drops the session. */
  #run(step: (client: pg.Client) => Promise<void>): Promise<void> {
    const next = this.#chain.then(async () => {
      const client = this.#client
      if (client === undefined || this.state !== 'open') return
      try {
        await step(client)
      } catch (error) {
        this.#drop(client, coerceError(error))
      }
    })
    this.#chain = next
    return next
  }

  /** Stops listening and waits in line for the lock. */
  async #standBy(client: pg.Client): Promise<void> {
    await client.query(this.#sql.unlisten)
    this.#role = 'standby'
    this.#options.onRole('standby')
    this.#queueWait()
  }

  /** One wait for the lock, after the steps queued before it; again while it ends without the lock. */
  #queueWait(): void {
    void this.#run(async (client) => {
      if (this.#role !== 'standby') return
      try {
        await client.query(this.#sql.waitLock, [this.#group])
      } catch (error) {
        if (!waitEnded(error)) throw error
        this.#queueWait()
        return
      }
      await client.query(this.#sql.listen)
      this.#role = 'waker'
      this.#options.onRole('waker')
    })
  }

  #drop(client: pg.Client, error: Error | undefined): void {
    if (this.#client !== client) return
    this.#client = undefined
    this.#role = undefined
    client.end().catch(() => undefined)
    if (this.state !== 'open') return
    if (error !== undefined) this.#options.onError(error)
    this.#failures++
    this.#timer = setTimeout(() => this.#connect(), retryDelayMs(this.#failures, 5_000))
  }

  #connect(): void {
    if (this.state !== 'open') return
    const client = new pg.Client(poolConfig(this.#options.connection, 1, this.#options.applicationName))
    this.#client = client
    client.on('error', (error) => this.#drop(client, error))
    client.on('end', () => this.#drop(client, undefined))
    client.on('notification', ({ channel, payload }) => {
      if (channel === this.#sql.jobsChannel && this.#role === 'waker' && this.state === 'open')
        this.#options.onJobs(parseJobsNotice(payload))
    })
    void this.#run(async () => {
      await client.connect()
      await client.query(this.#sql.lockTimeout)
      this.#failures = 0
      this.#role = 'standby'
      this.#options.onRole('standby')
      this.#queueWait()
    })
  }
}
