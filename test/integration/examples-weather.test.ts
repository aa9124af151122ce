// examples/weather deployed as its README says, by `pulse supervise examples/weather/supervise.json`,
// on the run's Redis and free loopback ports, with names of its own: every location gets a forecast at
// the front, newer ones keep coming, an unknown location is a 404, and SIGTERM stops every process
// cleanly (each says it closed; none is left). Needs `npm run build` (the CLI runs from dist/).
import { randomUUID } from 'node:crypto'
import { get } from 'node:http'
import { fileURLToPath } from 'node:url'

import { afterAll, afterEach, describe, expect, it } from 'vitest'

import { freePort } from '../../cli/local-servers/free-port.js'
import { alive } from '../helpers/child.js'
import { type RunningPulse, spawnPulse } from '../helpers/cli.js'
import { deleteByPrefix, useRawRedis } from '../helpers/redis.js'
import { redisUrl } from '../helpers/servers.js'
import { waitFor } from '../helpers/wait.js'

const config = fileURLToPath(new URL('../../examples/weather/supervise.json', import.meta.url))
const locations = ['paris', 'tokyo', 'nairobi']
const prefix = `t-${randomUUID().slice(0, 8)}-`
/** The processes supervise.json runs: `name#instance`. */
const processes = ['weather-api#0', 'poller#0', 'poller#1', 'forecaster#0', 'front#0']
const kPollEveryMs = 100
const kStartBoundMs = 30_000

interface Forecast {
  location: string
  temperatureC: number
  conditions: string
  at: string
}

interface Answer {
  status: number
  body: unknown
}

const raw = useRawRedis()
let pulse: RunningPulse | undefined
const childPids = new Map<string, number>()

// A failed test still stops the deployment: SIGTERM, then SIGKILL to the supervisor and its children.
afterEach(async () => {
  const running = pulse
  pulse = undefined
  if (running === undefined || running.child.exitCode !== null || running.child.signalCode !== null) return
  running.child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const stopped = await Promise.race([
    running.exited.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 15_000))),
  ])
  clearTimeout(timer)
  if (stopped) return
  running.child.kill('SIGKILL')
  for (const pid of childPids.values()) killQuietly(pid)
  await running.exited
})

afterAll(async () => {
  for (const key of ['map:', 'pulse:stream:', 'map:stream:', 'map:sink:', 'sink:']) {
    await deleteByPrefix(raw, `${key}${prefix}`)
  }
})

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // gone already
  }
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * GET on a connection of its own (no keep-alive socket outlives the test), bounded by 2 s;
 * `undefined` while nothing listens.
 */
function getJson(port: number, path: string): Promise<Answer | undefined> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: 2_000 }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: parsed(text) }))
      res.on('error', () => resolve(undefined))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(undefined))
  })
}

/** Calls `probe` every 100 ms until it gives a value; fails past `boundMs` or when the supervisor exits. */
async function eventually<T>(
  running: RunningPulse,
  what: string,
  boundMs: number,
  probe: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  let value: T | undefined
  const found = async (): Promise<boolean> => {
    value = await probe()
    if (value !== undefined) return true
    if (running.child.exitCode !== null || running.child.signalCode !== null) {
      throw new Error(`pulse supervise exited before ${what}\n${running.lines.join('\n')}`)
    }
    return false
  }
  try {
    await waitFor(found, { timeoutMs: boundMs, intervalMs: kPollEveryMs, what })
  } catch (error) {
    if ((error as Error).message.startsWith('pulse supervise exited')) throw error
    throw new Error(`no ${what} within ${boundMs} ms\n${running.lines.join('\n')}`, { cause: error })
  }
  return value as T
}

async function forecastOf(port: number, location: string): Promise<Forecast | undefined> {
  const answer = await getJson(port, `/forecasts/${location}`)
  return answer?.status === 200 ? (answer.body as Forecast) : undefined
}

async function allForecasts(port: number): Promise<Map<string, Forecast> | undefined> {
  const found = await Promise.all(locations.map((location) => forecastOf(port, location)))
  if (found.some((forecast) => forecast === undefined)) return undefined
  return new Map(found.map((forecast, i) => [locations[i] ?? '', forecast as Forecast]))
}

/** The pid each process printed at its start (`[poller#1] poller: started pid=123`). */
function startedPids(lines: readonly string[]): Map<string, number> {
  const pids = new Map<string, number>()
  for (const line of lines) {
    const match = /^\[([\w-]+#\d+)\] [\w-]+: started pid=(\d+)$/.exec(line)
    if (match?.[1] !== undefined) pids.set(match[1], Number(match[2]))
  }
  return pids
}

describe('examples/weather under pulse supervise', () => {
  it('serves a forecast per location, keeps them coming, 404s an unknown one, stops cleanly on SIGTERM', async () => {
    const apiPort = await freePort()
    let frontPort = await freePort()
    while (frontPort === apiPort) frontPort = await freePort()
    const running = spawnPulse(['supervise', config], {
      REDIS_URL: redisUrl(),
      WEATHER_PREFIX: prefix,
      WEATHER_API_PORT: String(apiPort),
      WEATHER_FRONT_PORT: String(frontPort),
      WEATHER_LOCATIONS: locations.join(','),
      WEATHER_POLL_MS: '200',
    })
    pulse = running

    const first = await eventually(running, 'forecast of every location', kStartBoundMs, () => allForecasts(frontPort))
    for (const [location, forecast] of first) {
      expect(forecast).toEqual({
        location,
        temperatureC: expect.any(Number) as number,
        conditions: expect.any(String) as string,
        at: expect.any(String) as string,
      })
    }
    const pids = await eventually(running, 'start of every process', 5_000, () => {
      const found = startedPids(running.lines)
      return found.size === processes.length ? found : undefined
    })
    for (const [name, pid] of pids) childPids.set(name, pid)
    expect([...childPids.keys()].sort()).toEqual([...processes].sort())

    // Forecasts keep flowing: a later read of each location is newer.
    for (const location of locations) {
      const before = Date.parse(first.get(location)?.at ?? '')
      const later = await eventually(running, `newer forecast of ${location}`, 5_000, async () => {
        const forecast = await forecastOf(frontPort, location)
        return forecast !== undefined && Date.parse(forecast.at) > before ? forecast : undefined
      })
      expect(later.location).toBe(location)
    }

    const list = await getJson(frontPort, '/forecasts')
    expect(list?.status).toBe(200)
    expect((list?.body as { forecasts: Forecast[] }).forecasts.map((f) => f.location)).toEqual([...locations].sort())
    expect(await getJson(frontPort, '/forecasts/atlantis')).toEqual({
      status: 404,
      body: { error: 'no forecast for this location', location: 'atlantis' },
    })

    expect(await running.stop()).toBe(0)
    for (const name of processes) {
      const label = name.split('#')[0] ?? ''
      expect(running.lines, `${name} closed`).toContain(`[${name}] ${label}: closed`)
    }
    for (const [name, pid] of childPids) expect(alive(pid), `${name} (pid ${pid}) is left`).toBe(false)
  }, 60_000)
})
