/**
 * A LISTEN client that reconnects: it runs `LISTEN "<channel>"` on a connection of its own and calls
 * `onNotify` for each notification on it.
 *
 *   connecting --connected + LISTEN ok (onReady)--> listening --error / end--> waiting --backoff--> connecting
 *        |                                                                        ^
 *        +--connect or LISTEN failed---------------------------------------------+
 *   any state --close()--> closed
 *
 * `onReady` runs after every (re)connection: notifications sent while it was down are gone, so the
 * owner claims once to cover the gap (its poll timer covers the rest).
 */
import pg from 'pg'

import { coerceError } from '../../../runtime/errors.js'
import { withTimeout } from '../../../runtime/lifecycle.js'
import { type ConnectionConfig, poolConfig, retryDelayMs } from './actor-pool.js'

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
