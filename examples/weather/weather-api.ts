// The stand-in weather API: GET /forecast?location=paris answers a fake forecast that depends only on
// the location and the time (same question, same minute: same answer), so that the example runs offline.
// Run alone: WEATHER_API_PORT=3080 npx tsx examples/weather/weather-api.ts
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'

import { isLocation, readConfig } from './config.js'
import type { Forecast } from './forecast.js'
import { closeServer, listen, sendJson } from './http.js'
import { runService } from './service.js'

const kConditions = ['sunny', 'partly cloudy', 'cloudy', 'light rain', 'showers', 'windy', 'fog', 'snow'] as const

/** FNV-1a, 32 bits: a stable number per location. */
function hash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h
}

/** A base temperature per location (−5 to 25 °C) with a daily swing, and conditions that change hourly. */
function fakeForecast(location: string, now: Date): Forecast {
  const seed = hash(location)
  const minuteOfDay = now.getUTCHours() * 60 + now.getUTCMinutes()
  const swing = 6 * Math.sin((2 * Math.PI * minuteOfDay) / 1_440)
  const temperatureC = Math.round(((seed % 300) / 10 - 5 + swing) * 10) / 10
  const conditions = kConditions[(seed + now.getUTCHours()) % kConditions.length] ?? 'sunny'
  return { location, temperatureC, conditions, at: now.toISOString() }
}

function answer(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://weather-api')
  if (url.pathname !== '/forecast') return sendJson(res, 404, { error: 'not found' })
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' })
  }
  const location = url.searchParams.get('location') ?? ''
  if (!isLocation(location)) return sendJson(res, 400, { error: 'location must be a lower-case location name' })
  sendJson(res, 200, fakeForecast(location, new Date()))
}

const config = readConfig()
await runService('weather-api', async (_signal, log) => {
  const server = createServer(answer)
  await listen(server, config.apiPort)
  log(`listening on http://127.0.0.1:${config.apiPort}/forecast?location=…`)
  return () => closeServer(server)
})
