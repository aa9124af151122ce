/**
 * PostgreSQL plumbing the job actors share on their thread: a small pool of their own, a LISTEN client
 * that reconnects, and the backoff of retries after a connection error.
 *
 * An actor's statements carry settings (`INDEX_PLANS_SQL`, the dispatcher's plan and commit settings).
 * On a direct connection they are session settings, run once per connection, and the hot statements
 * are named prepared statements. Through a transaction pooler (`transactionPooler`: PgBouncer in
 * transaction mode hands each transaction to any of its server sessions) a session is not the actor's,
 * so each statement runs in a transaction of its own that sets them first (`SET LOCAL`), unnamed:
 * `BEGIN; SET LOCAL …`, the statement, `COMMIT` (two more round trips per statement).
 *
 * NotifyListener:
 *
 *   connecting --connected + LISTEN ok (onReady)--> listening --error / end--> waiting --backoff--> connecting
 *        |                                                                        ^
 *        +--connect or LISTEN failed---------------------------------------------+
 *   any state --close()--> closed
 *
 * `onReady` runs after every (re)connection: notifications sent while it was down are gone, so the
 * owner claims once to cover the gap (the poll timer covers the rest).
 */
import pg from 'pg'

import { coerceError, toWire, type WireError } from '../../runtime/errors.js'
import { withTimeout } from '../../runtime/lifecycle.js'
import { preparedStatement, type Queryable } from '../../transports/postgres/jobs/queryable.js'
import { type ConnectionConfig, poolConfig } from './protocol.js'

/**
 * Session settings of the job actors' connections: every statement they send finds its rows through an
 * index (ready jobs through `jobs_ready`, named jobs by primary key, lapsed leases through
 * `jobs_leases`), so none may scan the table. With stale statistics (a table analysed while small or
 * empty, then filled: a fresh deployment, a TRUNCATE) the planner took a bitmap scan of the whole
 * backlog plus a sort for every claim, and a sequential scan of the table for a renewal of a few leases:
 * costs that grow with the table instead of the batch.
 */
export const INDEX_PLANS_SQL = 'SET enable_bitmapscan = off; SET enable_seqscan = off'
/** `INDEX_PLANS_SQL` for one transaction (through a transaction pooler). */
export const INDEX_PLANS_LOCAL_SQL = 'SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off'

/** An actor's settings: per session on a direct connection, per transaction through a transaction pooler. */
export interface ActorSettings {
  /** `SET …` statements, run on each new connection. */
  readonly session: string
  /** `SET LOCAL …` statements, run at the start of each statement's transaction. */
  readonly transaction: string
}

export interface ActorDbOptions {
  connection: ConnectionConfig
  max: number
  applicationName: string
  /** The connection goes through a transaction-mode pooler (see the top of the module). */
  transactionPooler: boolean
  settings?: ActorSettings | undefined
  /** Named prepared statements on a direct connection (never through a transaction pooler). */
  prepared?: boolean | undefined
}

/** An actor's pool (to end at stop) and how its statements run on it. */
export interface ActorDb {
  readonly pool: pg.Pool
  readonly db: Queryable
}

/** Opens an actor's pool and its `Queryable`, as the top of the module describes. */
export function openActorDb(options: ActorDbOptions): ActorDb {
  const { connection, max, applicationName, settings } = options
  if (options.transactionPooler) {
    const pool = openActorPool(connection, max, applicationName)
    return { pool, db: settings === undefined ? pool : transactionQueryable(pool, settings.transaction) }
  }
  const pool = openActorPool(connection, max, applicationName, settings?.session)
  return { pool, db: options.prepared === true ? preparedQueryable(pool) : pool }
}

/**
 * A pool with the `'error'` listener that keeps a dying idle client from crashing the thread.
 * `sessionSql`: run on every new connection before the pool hands it out (pg-pool's `onConnect`; a
 * failure ends that client and fails the checkout). A statement,
 * not the `options` startup parameter, which connection poolers such as PgBouncer refuse.
 */
export function openActorPool(
  connection: ConnectionConfig,
  max: number,
  applicationName: string,
  sessionSql?: string,
): pg.Pool {
  // pg-pool awaits `onConnect` before it hands a new client out (@types/pg types it as returning void).
  const onConnect =
    sessionSql === undefined ? undefined : (client: pg.ClientBase) => client.query(sessionSql).then(() => undefined)
  const pool = new pg.Pool({
    ...poolConfig(connection, max, applicationName),
    // eslint-disable-next-line @typescript-eslint/no-misused-promises
    ...(onConnect === undefined ? {} : { onConnect }),
  })
  pool.on('error', () => undefined)
  return pool
}

/**
 * `pool` as a `Queryable` whose statements are named prepared statements (a name per text, so each
 * connection parses a text once and plans it from a cached plan after that).
 */
export function preparedQueryable(pool: pg.Pool): Queryable {
  return {
    query: <R extends pg.QueryResultRow>(text: string, values?: unknown[]) =>
      pool.query<R>(preparedStatement(text, values)),
  }
}

/**
 * `pool` as a `Queryable` whose every statement runs in a transaction of its own that starts with
 * `localSql` (`SET LOCAL …`): `BEGIN; <localSql>` in one round trip, the statement (unnamed), `COMMIT`.
 * A client whose transaction may still be open (its ROLLBACK failed) is discarded, not reused.
 */
export function transactionQueryable(pool: pg.Pool, localSql: string): Queryable {
  const begin = `BEGIN; ${localSql}`
  return {
    query: async <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => {
      const client = await pool.connect()
      let discard: Error | undefined
      try {
        await client.query(begin)
        const result = await client.query<R>(text, values)
        await client.query('COMMIT')
        return result
      } catch (error) {
        discard = await rollback(client, error)
        throw error
      } finally {
        client.release(discard)
      }
    },
  }
}

/** Rolls back after `error`; returns the reason to discard the client when the rollback failed too. */
async function rollback(client: pg.PoolClient, error: unknown): Promise<Error | undefined> {
  try {
    await client.query('ROLLBACK')
    return undefined
  } catch {
    return coerceError(error)
  }
}

/** Ends a pool within `ms` (a query stuck on a dead server must not hold a stop). */
export async function endPool(pool: pg.Pool, ms = 2_000): Promise<void> {
  if (pool.ending) return
  await withTimeout(pool.end(), ms, () => new Error('pool did not end')).catch(() => undefined)
}

/** Delay before retry `failures` (1-based) after a database error: 50 ms doubling, capped, jittered. */
export function retryDelayMs(failures: number, capMs = 2_000): number {
  const ceiling = Math.min(capMs, 50 * 2 ** Math.min(20, Math.max(0, failures - 1)))
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
}

export function wireOf(error: unknown): WireError {
  const wire = toWire(error)
  // Stacks of transient database errors are noise across the ring.
  const { stack: _stack, ...rest } = wire
  return rest
}

export interface NotifyListenerOptions {
  connection: ConnectionConfig
  channel: string
  applicationName: string
  onNotify(): void
  onReady(): void
  onError(error: Error): void
}

export class NotifyListener {
  readonly #options: NotifyListenerOptions
  #client: pg.Client | undefined
  #timer: NodeJS.Timeout | undefined
  #failures = 0
  #closed = false

  constructor(options: NotifyListenerOptions) {
    this.#options = options
  }

  start(): void {
    void this.#connect()
  }

  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    const client = this.#client
    this.#client = undefined
    if (client !== undefined)
      await withTimeout(client.end(), 2_000, () => new Error('LISTEN client did not end')).catch(() => undefined)
  }

  async #connect(): Promise<void> {
    if (this.#closed) return
    const config = poolConfig(this.#options.connection, 1, this.#options.applicationName)
    const client = new pg.Client(config)
    let dropped = false
    const drop = (error: Error | undefined) => {
      if (dropped) return
      dropped = true
      if (this.#client === client) this.#client = undefined
      client.end().catch(() => undefined)
      if (this.#closed) return
      if (error !== undefined) this.#options.onError(error)
      this.#failures++
      this.#timer = setTimeout(() => void this.#connect(), retryDelayMs(this.#failures, 5_000))
    }
    client.on('error', (error) => drop(error))
    client.on('end', () => drop(undefined))
    client.on('notification', () => this.#options.onNotify())
    try {
      await client.connect()
      await client.query(`LISTEN "${this.#options.channel.replaceAll('"', '""')}"`)
    } catch (error) {
      drop(coerceError(error))
      return
    }
    if (this.#closed || dropped) {
      if (!dropped) await client.end().catch(() => undefined)
      return
    }
    this.#client = client
    this.#failures = 0
    this.#options.onReady()
  }
}
