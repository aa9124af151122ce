/**
 * Pool tickers and schedules (PROTOCOL.md, "Tickers and schedules").
 *
 * A ticker's state is one entry of `P:tickers`: `P:<name>` → `<next tick, unix µs>|<Go duration>`.
 * Each node arms a timer for the due time; when it fires, `testAndSet(current → next)` decides: the
 * one winner yields a tick, the others adopt the value they read and re-arm. One write wins per due
 * time, so there is one tick per period across the pool. A consumer that is busy gets the latest tick
 * from a one-slot buffer (none is lost to a busy loop, stale ones are coalesced).
 *
 * A `Ticker` is a `Closeable` (runtime/lifecycle.ts): `close()` ends it on this node, and so does its
 * entry vanishing (`stop()` anywhere) or turning malformed; `done` resolves then. A tick already in the
 * slot is still read after the end, then the iterator is done. A `Schedule` is a `Closeable` too: its
 * close ends its ticker, waits for the plan in progress, then leaves its job map.
 */
import { coerceError, InvalidArgumentError } from '../../runtime/errors.js'
import { Closeable } from '../../runtime/lifecycle.js'
import type { Logger } from '../../runtime/logger.js'
import { checkDurationMs, kMaxTimerMs } from '../../runtime/options.js'
import type { PulseRedis } from '../../transports/redis/connection.js'
import type { KeyLayout } from '../../transports/redis/key-layout.js'
import { schedulerMapName, tickerKey } from '../../transports/redis/pool/keys.js'
import {
  formatTickerEntry,
  nextTickEntry,
  parseTickerEntry,
  type TickerEntry,
} from '../../transports/redis/pool/values.js'
import type { ChangeFeed } from '../rmap/change-feed.js'
import { ReplicatedMap } from '../rmap/replicated-map.js'
import { checkProducerName, checkTickerName } from './names.js'
import type { JobPlan, JobProducer } from './types.js'

function isScheduleStop(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'PULSE_ERR_POOL_SCHEDULE_STOP'
  )
}

function nowUs(): bigint {
  return BigInt(Date.now()) * 1_000n
}

function noop(): void {}

export class Ticker extends Closeable implements AsyncIterable<Date> {
  readonly name: string
  readonly periodMs: number
  /** Resolves once the ticker ended (closed here, or stopped anywhere). */
  readonly done: Promise<void>
  readonly #map: ReplicatedMap
  readonly #key: string
  readonly #logger: Logger
  readonly #feed: ChangeFeed
  #timer: NodeJS.Timeout | undefined
  #slot: Date | undefined
  #waiter: ((result: IteratorResult<Date, undefined>) => void) | undefined

  private constructor(map: ReplicatedMap, key: string, name: string, periodMs: number, logger: Logger) {
    // Ending is synchronous (a timer, a feed, a waiter): nothing to bound.
    super({ name: `ticker "${name}"`, closeTimeoutMs: kMaxTimerMs })
    this.#map = map
    this.#key = key
    this.name = name
    this.periodMs = periodMs
    this.#logger = logger
    this.done = this.lifecycle.closed.then(noop)
    this.#feed = map.subscribe()
  }

  /** @internal `PoolNode.newTicker`. */
  static async open(map: ReplicatedMap, pool: string, name: string, periodMs: number, logger: Logger): Promise<Ticker> {
    checkTickerName(name, 'name')
    checkDurationMs(periodMs, 'periodMs', { min: 1 })
    const key = tickerKey(pool, name)
    const periodNs = BigInt(periodMs) * 1_000_000n
    const current = map.get(key)
    const parsed = current === undefined ? undefined : parseTickerEntry(current)
    // An existing entry with the same period is kept; otherwise the ticker is (re)scheduled.
    if (parsed === undefined || parsed.periodNs !== periodNs) {
      await map.setAndWait(key, formatTickerEntry({ nextAtUs: nowUs() + periodNs / 1_000n, periodNs }))
    }
    const ticker = new Ticker(map, key, name, periodMs, logger)
    ticker.#armFromMap()
    void ticker.#watch()
    return ticker
  }

  async #watch(): Promise<void> {
    try {
      for await (const kind of this.#feed) {
        void kind
        if (this.#ended()) break
        this.#armFromMap()
      }
    } catch {
      // the map closed
    }
  }

  #armFromMap(): void {
    const value = this.#map.get(this.#key)
    if (value === undefined) {
      this.#end() // stopped somewhere
      return
    }
    const entry = parseTickerEntry(value)
    if (entry === undefined) {
      this.#logger.warn({ ticker: this.#key, value }, 'pool: malformed ticker entry; the ticker ends')
      this.#end()
      return
    }
    this.#armAt(entry)
  }

  #armAt(entry: TickerEntry): void {
    if (this.#ended()) return
    clearTimeout(this.#timer)
    const delayMs = Math.max(0, Number(entry.nextAtUs - nowUs()) / 1_000)
    this.#timer = setTimeout(() => void this.#fire(), Math.ceil(delayMs))
  }

  async #fire(): Promise<void> {
    if (this.#ended()) return
    const value = this.#map.get(this.#key)
    if (value === undefined) return this.#end()
    const entry = parseTickerEntry(value)
    if (entry === undefined) return this.#armFromMap()
    const now = nowUs()
    if (entry.nextAtUs > now) return this.#armAt(entry)
    const next = nextTickEntry(entry, now)
    let previous: string | undefined
    try {
      previous = await this.#map.testAndSet(this.#key, value, formatTickerEntry(next))
    } catch (error) {
      if (this.#ended()) return
      this.#logger.warn({ ticker: this.#key, err: coerceError(error) }, 'pool: a ticker write failed; retrying')
      clearTimeout(this.#timer)
      this.#timer = setTimeout(() => void this.#fire(), Math.min(this.periodMs, 1_000))
      return
    }
    if (this.#ended()) return
    if (previous === value) {
      this.#push(new Date())
      this.#armAt(next)
      return
    }
    // Lost: another node won this due time (or the entry changed); adopt what Redis holds.
    if (previous === undefined) return this.#end()
    const adopted = parseTickerEntry(previous)
    if (adopted === undefined) return this.#armFromMap()
    this.#armAt(adopted)
  }

  #push(at: Date): void {
    const waiter = this.#waiter
    if (waiter !== undefined) {
      this.#waiter = undefined
      waiter({ done: false, value: at })
    } else {
      this.#slot = at
    }
  }

  #ended(): boolean {
    return this.state !== 'open'
  }

  /** The entry vanished or is malformed: the ticker ends here as on a `close()`. */
  #end(): void {
    void this.close()
  }

  protected onClose(): Promise<void> {
    clearTimeout(this.#timer)
    void this.#feed.return()
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.({ done: true, value: undefined })
    return Promise.resolve()
  }

  next(): Promise<IteratorResult<Date, undefined>> {
    if (this.#slot !== undefined) {
      const value = this.#slot
      this.#slot = undefined
      return Promise.resolve({ done: false, value })
    }
    if (this.#ended()) return Promise.resolve({ done: true, value: undefined })
    if (this.#waiter !== undefined) return Promise.reject(new InvalidArgumentError('a ticker has one reader at a time'))
    return new Promise((resolve) => (this.#waiter = resolve))
  }

  [Symbol.asyncIterator](): AsyncIterator<Date, undefined> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.close()
        return { done: true, value: undefined }
      },
    }
  }

  /** Ends this node's ticker; the others keep ticking. */
  override close(): Promise<void> {
    return super.close()
  }

  /** Ends the ticker on every node (its entry is deleted); after a local `close()` too. */
  async stop(): Promise<void> {
    const closing = this.close()
    await this.#map.delete(this.#key)
    await closing
  }
}

/** What `PoolNode.schedule` needs from the node. */
export interface ScheduleHost {
  readonly name: string
  readonly keyLayout: KeyLayout
  dispatchJob(key: string, payload: Uint8Array | string): Promise<void>
  stopJob(key: string): Promise<void>
  newTicker(name: string, periodMs: number): Promise<Ticker>
}

export interface Schedule {
  readonly name: string
  /** Stops planning on this node (jobs keep running; other nodes keep the schedule). */
  close(): Promise<void>
}

/** @internal `PoolNode.schedule`: plans at once (a failure rejects), then on each tick this node wins. */
export async function runSchedule(
  host: ScheduleHost,
  redis: PulseRedis,
  producer: JobProducer,
  intervalMs: number,
  logger: Logger,
): Promise<Schedule> {
  if (typeof producer !== 'object' || producer === null || typeof producer.plan !== 'function') {
    throw new InvalidArgumentError('producer must be an object with a name and plan()', {
      data: { option: 'producer' },
    })
  }
  const name = checkProducerName(producer.name)
  checkDurationMs(intervalMs, 'intervalMs', { min: 1 })
  const { keyLayout } = host
  const jobs = await ReplicatedMap.join(redis, schedulerMapName(host.name, name, keyLayout), { logger, keyLayout })
  let ticker: Ticker | undefined
  const apply = async (plan: JobPlan): Promise<void> => {
    const start = plan.start ?? []
    await Promise.all(
      start.map(async ({ key, payload }) => {
        try {
          await host.dispatchJob(key, payload)
          await jobs.set(key, new Date().toString())
        } catch (error) {
          logger.warn({ schedule: name, key, err: coerceError(error) }, 'pool: a scheduled start failed')
        }
      }),
    )
    const starting = new Set(start.map((s) => s.key))
    const stop = plan.stopAll === true ? jobs.keys().filter((key) => !starting.has(key)) : (plan.stop ?? [])
    await Promise.all(
      stop.map(async (key) => {
        try {
          await host.stopJob(key)
          await jobs.delete(key)
        } catch (error) {
          logger.warn({ schedule: name, key, err: coerceError(error) }, 'pool: a scheduled stop failed')
        }
      }),
    )
  }
  /** `ScheduleStopError` from `plan()`: the job map is reset and the ticker stopped on every node. */
  const end = async (running: Ticker): Promise<void> => {
    logger.info({ schedule: name }, 'pool: the schedule was stopped by its producer')
    await jobs.reset()
    await running.stop()
  }
  let first: JobPlan | undefined
  try {
    ticker = await host.newTicker(name, intervalMs)
    try {
      first = await producer.plan()
    } catch (error) {
      if (!isScheduleStop(error)) throw error
      await end(ticker)
    }
    if (first !== undefined) await apply(first)
  } catch (error) {
    await ticker?.close()
    await jobs.close()
    throw error
  }
  const running = ticker
  /** One tick's plan; false once the producer stopped the schedule. */
  const plan = async (): Promise<boolean> => {
    try {
      await apply(await producer.plan())
    } catch (error) {
      if (isScheduleStop(error)) {
        await end(running).catch((failure: unknown) =>
          logger.warn({ schedule: name, err: coerceError(failure) }, 'pool: stopping a schedule failed'),
        )
        return false
      }
      logger.warn({ schedule: name, err: coerceError(error) }, 'pool: a schedule plan failed')
    }
    return true
  }
  return new RunningSchedule(name, running, jobs, plan)
}

/**
 * A schedule planning on this node: the ticker it plans on, its planning loop and its job map. A tick
 * read once the close started (one buffered while a plan ran) is not planned.
 */
class RunningSchedule extends Closeable implements Schedule {
  readonly name: string
  readonly #ticker: Ticker
  readonly #jobs: ReplicatedMap
  readonly #loop: Promise<void>

  constructor(name: string, ticker: Ticker, jobs: ReplicatedMap, plan: () => Promise<boolean>) {
    // The plan in progress is waited for; the node's close bounds it.
    super({ name: `schedule "${name}"`, closeTimeoutMs: kMaxTimerMs })
    this.name = name
    this.#ticker = ticker
    this.#jobs = jobs
    this.#loop = this.#run(plan)
  }

  async #run(plan: () => Promise<boolean>): Promise<void> {
    for await (const at of this.#ticker) {
      void at
      if (this.signal.aborted || !(await plan())) break
    }
  }

  protected async onClose(): Promise<void> {
    await this.#ticker.close()
    await this.#loop
    await this.#jobs.close()
  }
}
