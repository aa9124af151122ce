/**
 * `PulseServer`: the one HTTP server of `pulse server`, on `transports/http`:
 *
 * | path                     | what                                                   | auth        |
 * |--------------------------|--------------------------------------------------------|-------------|
 * | `/healthz`               | each dependency's round trip; 503 naming the down ones | open        |
 * | `/metrics`               | Prometheus text (`metrics.ts`)                         | when on     |
 * | `/api/v1/openapi.json`   | the jobs API's OpenAPI 3.1 document                    | when on     |
 * | `/api/v1/…`              | the jobs API (`JobsApi`), with a job queue             | when on     |
 * | `/ui/…`                  | the dashboard (`dashboard/`), with its own sign-in     | its own     |
 * | `/` and every other path | the bus API (`BusApi`), with a bus                     | when on     |
 *
 * It owns nothing it is given: `close()` stops the HTTP server (ending SSE streams, waiting for
 * requests in flight) and leaves the queue and the bus to their owner.
 */
import type { Registry } from 'prom-client'

import type { Bus } from '../../actors/bus/index.js'
import { BUS_ERROR_STATUS, BusApi, type BusServerLimits, DEFAULT_BUS_CORS } from '../../actors/bus/index.js'
import { JOBS_API_ERROR_STATUS, type JobQueue, JobsApi, jobsOpenApi } from '../../actors/jobs/index.js'
import { NoRouteError } from '../../runtime/errors.js'
import { Closeable } from '../../runtime/lifecycle.js'
import type { Logger } from '../../runtime/logger.js'
import { kMaxTimerMs } from '../../runtime/options.js'
import { Dashboard } from '../../dashboard/app.js'
import type { Runtime } from '../../runtime/index.js'
import { BasicAuth, type BasicAuthOptions, HttpServer, Router, type TlsOptions } from '../../transports/http/index.js'
import type { PulseRedis } from '../../transports/redis/index.js'
import { healthHandler, type HealthProbe } from './health.js'
import { addJobGauges, metricsHandler, serverRegistry } from './metrics.js'

export const API_PREFIX = '/api/v1'
export const DASHBOARD_PREFIX = '/ui'

export interface PulseServerOptions {
  /** The job queue the jobs API serves; without one, `/api/v1/` answers 404. */
  queue?: JobQueue | undefined
  /** The bus the bus API serves; without one, the bus's paths answer 404. */
  bus?: Bus | undefined
  /** Redis, for the dashboard's streams, pools and maps pages. */
  redis?: PulseRedis | undefined
  /** A runtime in this process, for the dashboard's runtime page. */
  runtime?: Runtime | undefined
  /** Signs the dashboard's session cookies. @default random per process */
  sessionSecret?: string | undefined
  /** Dependencies `/healthz` checks, by name (e.g. `redis: () => client.ping()`); the queue's database is added. */
  health?: Readonly<Record<string, HealthProbe>>
  /** @default '127.0.0.1' */
  host?: string
  /** @default 2021 */
  port?: number
  tls?: TlsOptions | undefined
  auth?: BasicAuthOptions | undefined
  /** Largest request body. @default 1048576 */
  maxBodyBytes?: number
  busLimits?: BusServerLimits
  /** Bound of each health probe. @default 2000 */
  healthTimeoutMs?: number
  closeTimeoutMs?: number
  logger?: Logger
  /**
   * What `/metrics` serves: the registry the caller gave the queue, the bus and the runtime as their
   * `metrics`; the job gauges are added to it. @default a registry of the process's default metrics
   */
  metrics?: Registry | undefined
}

export class PulseServer extends Closeable {
  readonly http: HttpServer
  readonly #unobserve: () => void

  private constructor(http: HttpServer, unobserve: () => void) {
    // `http` bounds its own close.
    super({ name: 'PulseServer', closeTimeoutMs: kMaxTimerMs })
    this.http = http
    this.#unobserve = unobserve
  }

  static async listen(options: PulseServerOptions): Promise<PulseServer> {
    const router = new Router()
    const probes: Record<string, HealthProbe> = { ...options.health }
    const { queue, bus } = options
    if (queue !== undefined) probes.postgres = () => queue.ping()
    router.get('/healthz', healthHandler(probes, options.healthTimeoutMs ?? 2_000))
    const registry = options.metrics ?? serverRegistry()
    router.get('/metrics', metricsHandler(registry))
    if (queue !== undefined) {
      const document = jobsOpenApi(API_PREFIX)
      router.get(`${API_PREFIX}/openapi.json`, (ctx) => ctx.json(200, document))
      new JobsApi(queue, {}).mount(router, API_PREFIX)
    }
    router.on('*', `${API_PREFIX}/*`, (ctx) => {
      throw new NoRouteError(
        queue === undefined
          ? `the jobs API is off: start the server with a database (DATABASE_URL or --database)`
          : `no route for ${ctx.method} ${ctx.url.pathname}`,
        { data: { method: ctx.method, path: ctx.url.pathname } },
      )
    })
    new Dashboard({
      queue,
      bus,
      redis: options.redis,
      runtime: options.runtime,
      auth: options.auth === undefined ? undefined : new BasicAuth(options.auth),
      sessionSecret: options.sessionSecret,
      prefix: DASHBOARD_PREFIX,
    }).mount(router)
    const busApi = bus === undefined ? undefined : new BusApi(bus, options.busLimits ?? {})
    if (busApi !== undefined) busApi.mount(router)
    const unobserve = queue === undefined ? () => undefined : addJobGauges(registry, queue)
    const http = await HttpServer.listen({
      router,
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 2021,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...(options.auth === undefined ? {} : { auth: options.auth, openPaths: ['/healthz', `${DASHBOARD_PREFIX}/*`] }),
      cors: DEFAULT_BUS_CORS,
      maxBodyBytes: options.maxBodyBytes ?? busApi?.limits.maxBodyBytes ?? 1024 * 1024,
      ...(busApi === undefined
        ? {}
        : { sse: { pingIntervalMs: busApi.limits.pingIntervalMs, maxBufferedBytes: busApi.limits.maxBufferedBytes } }),
      errorStatus: { ...BUS_ERROR_STATUS, ...JOBS_API_ERROR_STATUS },
      ...(options.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: options.closeTimeoutMs }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      name: 'PulseServer',
    }).catch((error: unknown) => {
      unobserve()
      throw error
    })
    return new PulseServer(http, unobserve)
  }

  get url(): string {
    return this.http.url
  }

  get port(): number {
    return this.http.port
  }

  protected onClose(): Promise<void> {
    this.#unobserve()
    return this.http.close()
  }
}
