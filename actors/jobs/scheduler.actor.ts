/**
 * The scheduler actor: every tick (at most 1 s) it fires the schedules that are due, on the jobs thread.
 *
 *   idle --tick--> firing (one `fireDueSchedules` call) --settles--> idle (the next tick is armed then)
 *   any --stop--> stopped
 *
 * Every replica runs one. Exactly-once per occurrence does not depend on there being one: the jobs of
 * an occurrence carry `(schedule_id, occurrence)`, which is unique, and `fireDueSchedules` advances
 * `next_run_at` with a compare-and-set (transports/postgres/jobs/schedules.ts). Missed occurrences
 * collapse into one fire. Errors (a database that is down) are reported and the next tick tries again.
 */
import type pg from 'pg'

import { defineActor, type ActorContext } from '../../runtime/actor.js'
import { onceAsync } from '../../runtime/lifecycle.js'
import { quoteSchema } from '../../transports/postgres/jobs/queryable.js'
import { fireDueSchedules } from '../../transports/postgres/jobs/schedules.js'
import { endPool, openActorPool } from '../../transports/postgres/jobs/actor-pool.js'
import { type SchedulerArgs, type SchedulerMsg, type SchedulerOut, wireOf } from './protocol.js'
import { nextOccurrence } from './schedule-spec.js'

class Scheduler {
  readonly #args: SchedulerArgs
  readonly #ctx: ActorContext
  readonly #q: string
  readonly #pool: pg.Pool
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  constructor(args: SchedulerArgs, ctx: ActorContext) {
    this.#args = args
    this.#ctx = ctx
    this.#q = quoteSchema(args.schema)
    this.#pool = openActorPool(args.connection, 1, 'pulse-jobs-scheduler')
    this.#arm(0)
  }

  receive(msg: SchedulerMsg, ctx: ActorContext): void | Promise<void> {
    if (msg.t === 'stop') return this.stop().then(() => ctx.reply(true))
  }

  readonly stop = onceAsync(async (): Promise<void> => {
    this.#stopped = true
    clearTimeout(this.#timer)
    await endPool(this.#pool)
  })

  #emit(out: SchedulerOut): void {
    if (!this.#stopped) this.#ctx.emit(out)
  }

  #arm(ms: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => void this.#tick(), ms)
  }

  async #tick(): Promise<void> {
    const started = Date.now()
    try {
      const report = await fireDueSchedules(this.#pool, this.#q, new Date(), nextOccurrence)
      if (report.fired.length > 0) this.#emit({ t: 'fired', count: report.fired.length })
      for (const failure of report.failed) {
        this.#emit({
          t: 'warning',
          message: `schedule "${failure.name}" (${failure.scheduleId}) cannot compute its next occurrence`,
          error: wireOf(failure.error),
        })
      }
    } catch (error) {
      this.#emit({ t: 'warning', message: 'firing schedules failed; retrying', error: wireOf(error) })
    } finally {
      this.#arm(Math.max(0, this.#args.tickMs - (Date.now() - started)))
    }
  }
}

export default defineActor<Scheduler, SchedulerMsg, SchedulerArgs>({
  init: (args, ctx) => new Scheduler(args, ctx),
  receive: (state, msg, ctx) => {
    const pending = state.receive(msg, ctx)
    return pending === undefined ? state : pending.then(() => state)
  },
  stop: (state) => state.stop(),
})
