/**
 * The servers a chaos scenario restarts, and its restarts as fault steps.
 *
 * A scenario that restarts a server starts one of its own on a free port (restarting the run's shared
 * servers would disturb the other scenarios), as durable as a production server: PostgreSQL with fsync
 * and synchronous commits, Redis with its append-only file written before each reply (`appendfsync
 * always`), so that a crash loses nothing a client was told is done. Each restart is kept as a window,
 * from the stop to the server answering again; the recovery figures start at a window's end.
 */
import pg from 'pg'

import { LocalPostgres } from '../../cli/local-servers/postgres-server.js'
import { LocalRedis } from '../../cli/local-servers/redis-server.js'
import { migrate } from '../../transports/postgres/migrate.js'
import type { FaultStep } from './fault-loop.js'

/** A PostgreSQL cluster of the scenario's own, Pulse's schema migrated in its `postgres` database. */
export async function privatePostgres(): Promise<LocalPostgres> {
  const server = await LocalPostgres.start()
  const pool = new pg.Pool({ connectionString: server.url, max: 1 })
  try {
    await migrate(pool)
  } catch (error) {
    await server.close()
    throw error
  } finally {
    await pool.end()
  }
  return server
}

/** A redis-server of the scenario's own, with its append-only file on. */
export function privateRedis(): Promise<LocalRedis> {
  return LocalRedis.start({ persist: true, extraArgs: ['--appendfsync', 'always'] })
}

/** A restart: its kind (`restart (<mode>)`), when the stop began and when the server answered again. */
export interface RestartWindow {
  readonly kind: string
  readonly stoppedAt: number
  readonly readyAt: number
}

interface Restartable<Mode extends string> {
  restart(mode: Mode): Promise<void>
}

/** The restarts of one server: fault steps for a `FaultLoop`, and the windows they made. */
export class Restarts<Mode extends string> {
  readonly #server: Restartable<Mode>
  readonly #windows: RestartWindow[] = []

  constructor(server: Restartable<Mode>) {
    this.#server = server
  }

  /** A step that restarts the server, stopping it `mode`-wise, after `gapMs`. */
  step(mode: Mode, gapMs: number): FaultStep {
    const kind = `restart (${mode})`
    return {
      kind,
      gapMs,
      run: async () => {
        const stoppedAt = Date.now()
        await this.#server.restart(mode)
        this.#windows.push({ kind, stoppedAt, readyAt: Date.now() })
      },
    }
  }

  get windows(): readonly RestartWindow[] {
    return this.#windows
  }

  /** The longest a restart kept the server away, in ms (0 without restarts). */
  get longestDownMs(): number {
    return Math.max(0, ...this.#windows.map((w) => w.readyAt - w.stoppedAt))
  }
}

/** A restart and the ms from its end to the first sign of work done after it (undefined: none came). */
export interface Recovery {
  readonly window: RestartWindow
  readonly ms: number | undefined
}

/** For each window, `firstAfter(readyAt)` (epoch ms of the first work done since) as a `Recovery`. */
export async function recoveriesOf(
  windows: readonly RestartWindow[],
  firstAfter: (since: number) => Promise<number | undefined>,
): Promise<Recovery[]> {
  const list: Recovery[] = []
  for (const window of windows) {
    const first = await firstAfter(window.readyAt)
    list.push({ window, ms: first === undefined ? undefined : Math.max(0, Math.round(first - window.readyAt)) })
  }
  return list
}

/**
 * The longest recovery (undefined when one never came, or there were no restarts) and, per kind of
 * restart, the downtimes and recoveries for the results' details (`what`: "first completed job").
 */
export function recoveryFigures(
  recoveries: readonly Recovery[],
  what: string,
): { longestMs: number | undefined; details: Record<string, string> } {
  const details: Record<string, string> = {}
  const kinds = [...new Set(recoveries.map((r) => r.window.kind))]
  for (const kind of kinds) {
    const mine = recoveries.filter((r) => r.window.kind === kind)
    details[`${kind}: ms down`] = mine.map((r) => r.window.readyAt - r.window.stoppedAt).join(', ')
    details[`${kind}: ms from its end to the ${what}`] = mine.map((r) => r.ms ?? 'never').join(', ')
  }
  const never = recoveries.some((r) => r.ms === undefined)
  const longestMs = never || recoveries.length === 0 ? undefined : Math.max(...recoveries.map((r) => r.ms ?? 0))
  return { longestMs, details }
}
