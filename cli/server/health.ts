/**
 * `/healthz`: one round trip to each dependency the server was started with, each bounded, answered
 * 200 when all of them answered and 503 naming the ones that did not:
 *
 *   { "status": "ok" | "down", "checks": { "postgres": { "ok": true, "ms": 0.4 },
 *                                          "redis": { "ok": false, "error": "…" } } }
 *
 * It is open (no credentials) and says nothing beyond up or down and the round trip.
 */
import type { HttpContext } from '../../transports/http/index.js'

export type HealthProbe = () => Promise<unknown>

export interface HealthCheck {
  ok: boolean
  ms?: number
  error?: string
}

async function probe(check: HealthProbe, timeoutMs: number): Promise<HealthCheck> {
  const t0 = performance.now()
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    await Promise.race([check(), deadline])
    return { ok: true, ms: Math.round((performance.now() - t0) * 100) / 100 }
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) }
  } finally {
    clearTimeout(timer)
  }
}

/** The `/healthz` handler over `probes` (by dependency name), each bounded by `timeoutMs`. */
export function healthHandler(probes: Readonly<Record<string, HealthProbe>>, timeoutMs: number) {
  return async (ctx: HttpContext): Promise<void> => {
    const names = Object.keys(probes)
    const results = await Promise.all(names.map((name) => probe(probes[name] as HealthProbe, timeoutMs)))
    const checks = Object.fromEntries(names.map((name, i) => [name, results[i]]))
    const down = names.filter((_, i) => results[i]?.ok !== true)
    ctx.json(
      down.length === 0 ? 200 : 503,
      { status: down.length === 0 ? 'ok' : 'down', down, checks },
      {
        'Cache-Control': 'no-store',
      },
    )
  }
}
