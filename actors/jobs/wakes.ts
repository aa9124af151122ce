/**
 * The dispatcher's wakes from LISTEN: which dispatcher an insert wakes, and when another one takes over.
 *
 * The dispatchers of one schema that handle the same job names (the registered ones, whatever their
 * saturation) form a wake group. In each group one dispatcher is the waker: it holds the group's
 * advisory lock on its wake session (transports/postgres/jobs/wake-session.ts) and alone LISTENs on
 * the jobs channel, whose notification says how many jobs a statement inserted and their names. The
 * others are standbys, in line for the lock, listening to nothing. So an insert wakes one dispatcher
 * per group that handles its names, whatever the number of replicas.
 *
 * The waker, for a notification of jobs:
 *   - none of its group's names: nothing (another group's waker has them);
 *   - a name it can claim now: a claim is wanted;
 *   - more jobs than it can take now (its free credits and those of the claim in flight), or a name of
 *     its group it cannot claim now (saturated): it hands over.
 * It also hands over after a full claim when it cannot claim again at once (`overflow`): more jobs may
 * wait than it can take. Handing over gives the lock to the standby first in line, which LISTENs from
 * then on and claims at once; the old waker goes to the end of the line (and keeps claiming while its
 * claims come back full). Without a standby in line the waker stays.
 *
 *   handover  idle ──needed──▶ handing ──done or no standby──▶ cooling ──kHandOverCooldownMs──▶ idle
 *             A need that comes while handing or cooling is dropped: at most one try per cooldown.
 *
 * What stays true whatever is lost: every dispatcher still claims at each poll tick, so a job whose
 * wake went nowhere (a waker that died, a dropped session) waits at most one poll interval. A waker
 * that closes or dies releases the lock with its session, and the standby first in line takes over at
 * once. A dispatcher claims once when it becomes the waker, to cover the notifications sent before its
 * LISTEN.
 */
import { createHash } from 'node:crypto'

import { onceAsync } from '../../runtime/lifecycle.js'
import type { ConnectionConfig } from '../../transports/postgres/jobs/actor-pool.js'
import { type JobsNotice, type WakeRole, WakeSession } from '../../transports/postgres/jobs/wake-session.js'

/** Tries to hand over are at least this far apart. */
export const kHandOverCooldownMs = 50

/** What the wakes ask of their dispatcher. */
export interface WakeHost {
  /** Ready jobs may exist: a claim is wanted. */
  wake(): void
  /** The names it can claim now. */
  claimable(): readonly string[]
  /** The jobs it can take now: its free credits and those the claim in flight holds. */
  free(): number
  warn(message: string, error: unknown): void
}

export interface WakesOptions {
  connection: ConnectionConfig
  schema: string
  host: WakeHost
}

type HandOverState = 'idle' | 'handing' | 'cooling'

/** The 32-bit key of a group of names (order and repeats do not matter). */
export function wakeGroup(names: readonly string[]): number {
  const sorted = [...new Set(names)].sort()
  return createHash('sha1').update(sorted.join('\0')).digest().readInt32BE(0)
}

export class Wakes {
  readonly #host: WakeHost
  readonly #session: WakeSession
  /** The registered names: the group. */
  #registered = new Set<string>()
  #handOver: HandOverState = 'idle'
  #cooldown: NodeJS.Timeout | undefined
  #closed = false

  constructor(options: WakesOptions) {
    this.#host = options.host
    this.#session = new WakeSession({
      connection: options.connection,
      schema: options.schema,
      group: wakeGroup([]),
      applicationName: 'pulse-jobs-listen',
      onJobs: (notice) => this.#onJobs(notice),
      // A new waker claims once: notifications before its LISTEN went to the old one, or nowhere.
      onRole: (role) => {
        if (role === 'waker') this.#host.wake()
      },
      onError: (error) => this.#host.warn('LISTEN connection lost; reconnecting', error),
    })
    this.#session.start()
  }

  /** The role of this dispatcher in its group now; undefined while its session is not connected. */
  get role(): WakeRole | undefined {
    return this.#session.role
  }

  /** The registered names (the group) may have changed. */
  registered(names: readonly string[]): void {
    if (names.length === this.#registered.size && names.every((n) => this.#registered.has(n))) return
    this.#registered = new Set(names)
    void this.#session.regroup(wakeGroup(names))
  }

  /** The waker's claim came back full and it cannot claim again now: a standby may take the rest. */
  overflow(): void {
    this.#needHelp()
  }

  /** Stops handing over and ends the session (the lock goes to the standby first in line). */
  readonly close = onceAsync(async (): Promise<void> => {
    this.#closed = true
    clearTimeout(this.#cooldown)
    await this.#session.close()
  })

  #onJobs(notice: JobsNotice): void {
    const { names, count } = notice
    if (names === undefined) {
      this.#host.wake()
      return
    }
    const ours = names.filter((n) => this.#registered.has(n))
    if (ours.length === 0) return
    const claimable = this.#host.claimable()
    const now = ours.filter((n) => claimable.includes(n))
    if (now.length > 0) this.#host.wake()
    if (now.length < ours.length || (count ?? 0) > this.#host.free()) this.#needHelp()
  }

  /** Hands over to a standby, unless tried lately. */
  #needHelp(): void {
    if (this.#closed || this.#handOver !== 'idle' || this.#session.role !== 'waker') return
    this.#handOver = 'handing'
    void this.#session.handOver().then(() => {
      if (this.#closed) return
      this.#handOver = 'cooling'
      this.#cooldown = setTimeout(() => (this.#handOver = 'idle'), kHandOverCooldownMs)
    })
  }
}
