/**
 * The PostgreSQL connections of the job actors, which run on a thread of their own: how they connect
 * (a plain config that can cross a thread), a small pool per actor, how its statements carry the
 * actor's settings, and the delay before a retry after a connection error.
 *
 * An actor's statements carry settings (`INDEX_PLANS_SQL`, the dispatcher's plan and commit settings).
 * On a direct connection they are session settings, run once per connection, and the hot statements
 * are named prepared statements. Through a transaction pooler (`transactionPooler`: PgBouncer in
 * transaction mode hands each transaction to any of its server sessions) a session is not the actor's,
 * so each statement runs in a transaction of its own that sets them first (`SET LOCAL`), unnamed:
 * `BEGIN; SET LOCAL …`, the statement, `COMMIT` (two more round trips per statement).
 *
 * Invariant: no pool made here crashes its thread: a dying idle client is dropped, a client checked out
 * has an 'error' listener while it is out (`holdClient`), and a client whose transaction may still be
 * open, or whose connection died, is discarded, never handed out again.
 */
import pg from 'pg'

import { backoffMs } from '../../../runtime/backoff.js'
import { coerceError, InvalidArgumentError } from '../../../runtime/errors.js'
import { withTimeout } from '../../../runtime/lifecycle.js'
import { preparedStatement, type Queryable } from './queryable.js'

/**
 * How an actor connects: a connection string, or a plain `pg` client config (what `pg.Pool#options`
 * holds, minus functions and pool settings). A `pg.Pool` itself cannot cross a thread.
 */
export type ConnectionConfig = string | Readonly<Record<string, unknown>>

/**
 * Session settings of the job actors' connections: every statement they send finds its rows through an
 * index (ready jobs through `jobs_ready`, named jobs by primary key, lapsed leases through
 * `jobs_leases`), so none may scan the table. With stale statistics (a table analysed while small or
 * empty, then filled: a fresh deployment, a TRUNCATE) the planner would otherwise pick a bitmap scan of
 * the whole backlog plus a sort for a claim, and a sequential scan of the table for a renewal of a few
 * leases: costs that grow with the table instead of the batch.
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
 * failure ends that client and fails the checkout). A statement, not the `options` startup parameter,
 * which connection poolers such as PgBouncer refuse.
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
      const held = holdClient(client)
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
        held.release(discard)
      }
    },
  }
}

/**
 * Holds a client checked out of a `pg.Pool`: while it is out the pool does not listen to it, so a
 * connection that dies then would throw its 'error' event and end the thread. `release(reason)` gives it
 * back, discarded when `reason` is given or its connection died meanwhile.
 */
export function holdClient(client: pg.PoolClient): { release: (reason?: Error) => void } {
  let broken: Error | undefined
  const onError = (error: Error) => {
    broken ??= error
  }
  client.on('error', onError)
  return {
    release: (reason) => {
      client.removeListener('error', onError)
      client.release(reason ?? broken)
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
  return backoffMs(failures, { baseMs: 50, maxMs: capMs, jitter: true })
}

// ---- connection config ----

/** Settings of the pool, not of a connection: an actor's own pool sets its own. */
const kPoolOnlyKeys = new Set([
  'max',
  'min',
  'idleTimeoutMillis',
  'maxUses',
  'maxLifetimeSeconds',
  'allowExitOnIdle',
  'log',
  'Client',
  'Promise',
  'onConnect',
])

function isPlainData(value: unknown, depth = 0): boolean {
  if (value === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof value)) return true
  if (typeof value !== 'object' || depth > 4) return false
  if (Buffer.isBuffer(value) || value instanceof Date) return true
  if (Array.isArray(value)) return value.every((v) => isPlainData(v, depth + 1))
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto !== Object.prototype && proto !== null) return false
  return Object.values(value).every((v) => isPlainData(v, depth + 1))
}

/**
 * The plain connection config of a `pg.Pool`: its `options` without pool settings and without
 * `undefined` fields. A function (a password callback, a custom stream) cannot cross a thread: it is
 * refused with `PULSE_ERR_INVALID_ARG` naming the field, and the caller passes `connection` instead.
 */
export function connectionOf(pool: pg.Pool, name = 'options.pool'): ConnectionConfig {
  const out: Record<string, unknown> = {}
  const options = pool.options as unknown as Record<string, unknown>
  // Own names, not entries: pg-pool keeps `password` non-enumerable (out of logs).
  for (const key of Object.getOwnPropertyNames(options)) {
    const value = options[key]
    if (kPoolOnlyKeys.has(key) || value === undefined) continue
    if (!isPlainData(value)) {
      throw new InvalidArgumentError(
        `${name}.options.${key} is not plain data (a function or class instance cannot cross to the jobs thread): give options.connection`,
        { data: { option: `${name}.options.${key}` } },
      )
    }
    out[key] = value
  }
  return out
}

/** A `pg.Pool` config for an actor's own small pool. */
export function poolConfig(connection: ConnectionConfig, max: number, applicationName: string): pg.PoolConfig {
  const base: pg.PoolConfig =
    typeof connection === 'string' ? { connectionString: connection } : { ...(connection as pg.PoolConfig) }
  return {
    connectionTimeoutMillis: 5_000,
    application_name: applicationName,
    keepAlive: true,
    ...base,
    max,
    idleTimeoutMillis: 30_000,
  }
}
