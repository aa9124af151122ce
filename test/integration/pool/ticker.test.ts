/** Pool tickers and schedules. */
import { afterEach, describe, expect, it } from 'vitest'

import { ScheduleStopError, type JobPlan, type JobProducer, type Ticker } from '../../../actors/pool/index.js'
import { useRawRedis } from '../../helpers/redis.js'
import { Pools, recorder, until } from './helpers.js'

const raw = useRawRedis()
let pools: Pools
afterEach(async () => {
  await pools.close(raw)
})

function collect(ticker: Ticker, into: number[]): Promise<void> {
  return (async () => {
    for await (const at of ticker) into.push(at.getTime())
  })()
}

describe('newTicker', () => {
  it('one tick per period across three nodes; close() is local; stop() ends it everywhere', async () => {
    pools = new Pools()
    const name = pools.name()
    const nodes = await Promise.all([pools.join(name), pools.join(name), pools.join(name)])
    const period = 100
    const tickers = await Promise.all(nodes.map((n) => n.newTicker('rollup', period)))
    const ticks: number[][] = [[], [], []]
    const loops = tickers.map((t, i) => collect(t, ticks[i]!))
    const started = Date.now()
    await until(() => ticks.flat().length >= 8, 10_000, '8 ticks')
    const elapsed = Date.now() - started
    const total = ticks.flat().length
    // One tick per period across the pool: never one per node per period.
    expect(total).toBeLessThanOrEqual(Math.floor(elapsed / period) + 2)
    // close() is local: the others keep ticking.
    await tickers[0]!.close()
    await loops[0]
    const before = ticks[1]!.length + ticks[2]!.length
    await until(() => ticks[1]!.length + ticks[2]!.length >= before + 3, 5_000, 'ticks after a local close')
    // stop() deletes the entry: every node's ticker ends.
    await tickers[1]!.stop()
    await Promise.all(loops)
    expect(await raw.hexists(`map:${name}:tickers:content`, `${name}:rollup`)).toBe(0)
  })

  it('is rescheduled when created again with another period', async () => {
    pools = new Pools()
    const name = pools.name()
    const node = await pools.join(name)
    const first = await node.newTicker('t', 1_000)
    expect((await raw.hget(`map:${name}:tickers:content`, `${name}:t`))?.endsWith('|1s')).toBe(true)
    await first.close()
    const second = await node.newTicker('t', 50)
    expect((await raw.hget(`map:${name}:tickers:content`, `${name}:t`))?.endsWith('|50ms')).toBe(true)
    const ticks: number[] = []
    const loop = collect(second, ticks)
    await until(() => ticks.length >= 3, 5_000, 'three ticks at the new period')
    await second.close()
    await loop
  })
})

describe('ticker lifecycle', () => {
  it('close() is memoised: a waiting reader ends, done resolves, the iterator stays done; stop() still deletes', async () => {
    pools = new Pools()
    const name = pools.name()
    const node = await pools.join(name)
    const ticker = await node.newTicker('idle', 60_000)
    expect(ticker.state).toBe('open')
    const waiting = ticker.next()
    const first = ticker.close()
    expect(ticker.close()).toBe(first)
    await first
    expect(await waiting).toEqual({ done: true, value: undefined })
    await ticker.done
    expect(ticker.state).toBe('closed')
    expect(await ticker.next()).toEqual({ done: true, value: undefined })
    expect(await raw.hexists(`map:${name}:tickers:content`, `${name}:idle`)).toBe(1)
    await ticker.stop()
    expect(await raw.hexists(`map:${name}:tickers:content`, `${name}:idle`)).toBe(0)
  })

  it('a ticker stopped on another node is closed here; await using closes it', async () => {
    pools = new Pools()
    const name = pools.name()
    const [a, b] = await Promise.all([pools.join(name), pools.join(name)])
    const stopper = await b.newTicker('shared', 60_000)
    let ended: Ticker | undefined
    {
      await using ticker = await a.newTicker('shared', 60_000)
      ended = ticker
      await stopper.stop()
      await ticker.done
      expect(ticker.state).toBe('closed')
    }
    expect(ended.state).toBe('closed')
    {
      await using scoped = await a.newTicker('scoped', 60_000)
      ended = scoped
    }
    expect(ended.state).toBe('closed')
  })

  it("a schedule's close is memoised, waits for the plan in progress, and plans no tick after it", async () => {
    pools = new Pools()
    const name = pools.name()
    const node = await pools.join(name)
    let release: () => void = () => undefined
    let planning = false
    let closing = false
    let plannedAfterClose = 0
    let calls = 0
    const schedule = await node.schedule(
      {
        name: 'slow',
        plan: async (): Promise<JobPlan> => {
          if (closing) plannedAfterClose++
          if (calls++ !== 1) return {}
          planning = true
          await new Promise<void>((resolve) => (release = resolve))
          planning = false
          return {}
        },
      },
      20,
    )
    await until(() => planning, 5_000, 'a plan in progress')
    // A tick won while the plan runs waits in the ticker's slot: the entry's next due time moves on.
    const field = `${name}:slow`
    const due = await raw.hget(`map:${name}:tickers:content`, field)
    await until(async () => (await raw.hget(`map:${name}:tickers:content`, field)) !== due, 5_000, 'a buffered tick')
    closing = true
    let settled = 0
    const closes = [schedule.close(), schedule.close()].map((p) => p.then(() => settled++))
    await new Promise((resolve) => setImmediate(resolve))
    expect(settled).toBe(0)
    release()
    await Promise.all(closes)
    expect(planning).toBe(false)
    expect(settled).toBe(2)
    expect(plannedAfterClose).toBe(0)
    await raw.del(`map:${name}:slow:content`)
  })
})

describe('schedule', () => {
  it('plans at once, then on ticks: starts, stops, and stopAll spares the keys it starts', async () => {
    pools = new Pools()
    const name = pools.name()
    const node = await pools.join(name)
    const handler = recorder()
    await node.addWorker(handler)
    const plans: JobPlan[] = [
      {
        start: [
          { key: 'a', payload: '1' },
          { key: 'b', payload: '2' },
        ],
      },
      { start: [{ key: 'c', payload: '3' }], stopAll: true },
      { stop: ['c'] },
    ]
    let calls = 0
    const schedule = await node.schedule(
      { name: 'reconcile', plan: () => plans[Math.min(calls++, plans.length - 1)] ?? {} },
      100,
    )
    expect([...handler.running].sort()).toEqual(['a', 'b'])
    expect(await raw.hkeys(`map:${name}:reconcile:content`)).toEqual(expect.arrayContaining(['a', 'b']))
    await until(
      () => handler.running.has('c') && !handler.running.has('a') && !handler.running.has('b'),
      5_000,
      'the second plan',
    )
    await until(() => handler.running.size === 0, 5_000, 'the third plan')
    await schedule.close()
    await until(
      async () => (await raw.hkeys(`map:${name}:reconcile:content`)).filter((k) => !k.startsWith('=')).length === 0,
      5_000,
      'the schedule map to empty',
    )
    await raw.del(`map:${name}:reconcile:content`)
  })

  it('ScheduleStopError from plan() ends the schedule on every node; its jobs keep running', async () => {
    pools = new Pools()
    const name = pools.name()
    const a = await pools.join(name)
    const b = await pools.join(name)
    const handler = recorder()
    await a.addWorker(handler)
    // Each node plans once at start; any tick after that stops the schedule, whichever node wins it.
    const producer = (first: JobPlan): JobProducer => {
      let calls = 0
      return {
        name: 'ending',
        plan: (): JobPlan => {
          if (calls++ === 0) return first
          throw new ScheduleStopError('done')
        },
      }
    }
    const first = await a.schedule(producer({ start: [{ key: 'kept', payload: 'x' }] }), 100)
    const second = await b.schedule(producer({}), 100)
    expect(handler.running.has('kept')).toBe(true)
    await until(
      async () => (await raw.hexists(`map:${name}:tickers:content`, `${name}:ending`)) === 0,
      5_000,
      'the ticker entry to go',
    )
    await until(
      async () => (await raw.hkeys(`map:${name}:ending:content`)).filter((k) => !k.startsWith('=')).length === 0,
      5_000,
      'the job map to reset',
    )
    expect(handler.running.has('kept')).toBe(true)
    await first.close()
    await second.close()
    await raw.del(`map:${name}:ending:content`)
  })
})
