// The forecast every service passes along: its shape, and a check of JSON text that comes from
// elsewhere (the API's answer, a stream event, a map value) before anything trusts it.
import { isLocation } from './config.js'

export interface Forecast {
  readonly location: string
  readonly temperatureC: number
  readonly conditions: string
  /** When the API made it, ISO 8601. */
  readonly at: string
}

function isForecast(value: unknown): value is Forecast {
  if (typeof value !== 'object' || value === null) return false
  const { location, temperatureC, conditions, at } = value as Record<string, unknown>
  return (
    typeof location === 'string' &&
    isLocation(location) &&
    typeof temperatureC === 'number' &&
    Number.isFinite(temperatureC) &&
    typeof conditions === 'string' &&
    conditions.length <= 64 &&
    typeof at === 'string' &&
    !Number.isNaN(Date.parse(at))
  )
}

/** The forecast in `text`, reduced to its four fields; `undefined` when it is not one. */
export function parseForecast(text: string): Forecast | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!isForecast(value)) return undefined
  const { location, temperatureC, conditions, at } = value
  return { location, temperatureC, conditions, at }
}

/** Whether `a` was made after `b`. */
export function isNewer(a: Forecast, b: Forecast): boolean {
  return Date.parse(a.at) > Date.parse(b.at)
}
