// The weather services' settings: read from the environment, with defaults that run offline on one
// machine, and the names of the pool, stream, sink and map they share (all behind WEATHER_PREFIX, so
// that two deployments on one Redis stay apart).

export interface WeatherConfig {
  readonly redisUrl: string
  readonly apiPort: number
  readonly frontPort: number
  /** Where the poller asks for forecasts: the stand-in API on 127.0.0.1. */
  readonly apiUrl: string
  /** One pool job per location. */
  readonly locations: readonly string[]
  /** How often each job polls the API. */
  readonly pollMs: number
  readonly names: WeatherNames
}

export interface WeatherNames {
  readonly pool: string
  readonly stream: string
  readonly sink: string
  readonly map: string
}

const kLocation = /^[a-z][a-z0-9-]{0,62}$/
const kPrefix = /^[A-Za-z0-9_-]{0,64}$/

/** A location name as the API, the pool (job keys) and the map (keys) all accept it. */
export function isLocation(value: string): boolean {
  return kLocation.test(value)
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const text = env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`)
  }
  return value
}

function locations(env: NodeJS.ProcessEnv): string[] {
  const list = (env.WEATHER_LOCATIONS ?? 'paris,tokyo,nairobi,lima').split(',').map((item) => item.trim())
  const bad = list.find((item) => !isLocation(item))
  if (bad !== undefined) throw new Error(`WEATHER_LOCATIONS: ${JSON.stringify(bad)} is not a location name`)
  return [...new Set(list)]
}

function prefix(env: NodeJS.ProcessEnv): string {
  const value = env.WEATHER_PREFIX ?? ''
  if (!kPrefix.test(value))
    throw new Error(`WEATHER_PREFIX must match ${String(kPrefix)} (got ${JSON.stringify(value)})`)
  return value
}

export function weatherNames(namePrefix: string): WeatherNames {
  return {
    pool: `${namePrefix}weather`,
    stream: `${namePrefix}forecasts`,
    sink: `${namePrefix}forecaster`,
    map: `${namePrefix}forecasts`,
  }
}

/** Throws on a malformed variable, so that a service fails before it says it is ready. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): WeatherConfig {
  const apiPort = integer(env, 'WEATHER_API_PORT', 3080, 1, 65_535)
  return {
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    apiPort,
    frontPort: integer(env, 'WEATHER_FRONT_PORT', 3000, 1, 65_535),
    apiUrl: `http://127.0.0.1:${apiPort}`,
    locations: locations(env),
    pollMs: integer(env, 'WEATHER_POLL_MS', 2_000, 50, 3_600_000),
    names: weatherNames(prefix(env)),
  }
}
