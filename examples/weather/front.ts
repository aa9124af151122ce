// The front: an HTTP server that joins the replicated map `forecasts` and answers from its local copy
// (no Redis round trip per request): GET /forecasts lists every cached forecast, GET /forecasts/paris
// one of them, 404 for a location it has none of. It answers JSON only.
// Run alone: REDIS_URL=redis://127.0.0.1:6379 WEATHER_FRONT_PORT=3000 npx tsx examples/weather/front.ts
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'

import { ReplicatedMap } from 'pulse-runtime/rmap'

import { readConfig } from './config.js'
import { type Forecast, parseForecast } from './forecast.js'
import { closeServer, listen, sendJson } from './http.js'
import { runService } from './service.js'

/** Every forecast of the map, by location. */
function allForecasts(map: ReplicatedMap): Forecast[] {
  return map
    .keys()
    .sort()
    .flatMap((location) => parseForecast(map.get(location) ?? '') ?? [])
}

/** The location of `/forecasts/<location>`; `undefined` for a malformed escape. */
function locationOf(path: string): string | undefined {
  try {
    return decodeURIComponent(path.slice('/forecasts/'.length))
  } catch {
    return undefined
  }
}

function answerLocation(map: ReplicatedMap, res: ServerResponse, path: string): void {
  const location = locationOf(path)
  if (location === undefined) return sendJson(res, 400, { error: 'malformed location' })
  const forecast = parseForecast(map.get(location) ?? '')
  if (forecast === undefined) return sendJson(res, 404, { error: 'no forecast for this location', location })
  sendJson(res, 200, forecast)
}

function answer(map: ReplicatedMap, req: IncomingMessage, res: ServerResponse): void {
  const { pathname } = new URL(req.url ?? '/', 'http://front')
  if (pathname !== '/forecasts' && !pathname.startsWith('/forecasts/'))
    return sendJson(res, 404, { error: 'not found' })
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' })
  }
  if (pathname === '/forecasts') return sendJson(res, 200, { forecasts: allForecasts(map) })
  answerLocation(map, res, pathname)
}

const config = readConfig()
await runService('front', async (signal, log) => {
  const map = await ReplicatedMap.join(config.redisUrl, config.names.map, { signal })
  const server = createServer((req, res) => answer(map, req, res))
  await listen(server, config.frontPort)
  log(`listening on http://127.0.0.1:${config.frontPort}/forecasts`)
  return async () => {
    await closeServer(server)
    await map.close()
  }
})
