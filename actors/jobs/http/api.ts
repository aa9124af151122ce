/**
 * The jobs API: the job queue over HTTP, JSON in and out, mounted on a `Router` under a prefix
 * (`/api/v1` in `pulse server`). The routes and their shapes are `openapi.ts`'s document; a test keeps
 * the two the same.
 *
 * Every action (submit, cancel, requeue, dispatch, schedule changes) is recorded in the queue's audit
 * log as the request's user (`anonymous` when the server has no auth). Operator actions write their row
 * in the action's own transaction; a submit writes it once the job has committed. Errors answer with
 * the status of their code (`JOBS_API_ERROR_STATUS` over the server's table) and a JSON body
 * `{ code, message, name, data? }`.
 */
import { JobNotFoundError, ProtocolError, ScheduleNotFoundError } from '../../../runtime/errors.js'
import { appendAudit } from '../../../transports/postgres/jobs/audit.js'
import type { ErrorStatusTable, HttpContext, Router } from '../../../transports/http/index.js'
import { kJobQueueInternals } from '../internal.js'
import type { JobQueue } from '../queue.js'
import type { JobInfo, JobSummary, OperatorOptions } from '../types.js'
import { bulkBody, filterQuery, integer, jobBatch, jobItem, listQuery, reasonBody, scheduleBody } from './requests.js'

export const JOBS_API_ERROR_STATUS: ErrorStatusTable = Object.freeze({
  PULSE_ERR_JOB_NOT_FOUND: 404,
  PULSE_ERR_JOB_SCHEDULE_NOT_FOUND: 404,
  PULSE_ERR_JOB_STATE: 409,
  PULSE_ERR_JOB_EXISTS: 409,
  PULSE_ERR_JOB_TOO_LARGE: 413,
})

export interface JobsApiOptions {
  /** @default '/api/v1' */
  prefix?: string
  /** Most jobs one batch submit takes. @default 1_000 */
  maxBatch?: number
}

/** The route table: method, path under the prefix, and the handler's name in `JobsApi`. */
export const JOBS_API_ROUTES = [
  ['POST', '/jobs', 'submit'],
  ['POST', '/jobs/batch', 'submitBatch'],
  ['GET', '/jobs', 'list'],
  ['GET', '/jobs/count', 'count'],
  ['POST', '/jobs/cancel', 'cancelMatching'],
  ['POST', '/jobs/requeue', 'requeueMatching'],
  ['GET', '/jobs/:id', 'get'],
  ['POST', '/jobs/:id/cancel', 'cancel'],
  ['POST', '/jobs/:id/requeue', 'requeue'],
  ['GET', '/dispatch', 'dispatchStatus'],
  ['POST', '/dispatch/pause', 'pause'],
  ['POST', '/dispatch/resume', 'resume'],
  ['GET', '/schedules', 'schedules'],
  ['POST', '/schedules', 'addSchedule'],
  ['POST', '/schedules/:id/pause', 'pauseSchedule'],
  ['POST', '/schedules/:id/resume', 'resumeSchedule'],
  ['DELETE', '/schedules/:id', 'deleteSchedule'],
  ['GET', '/stats', 'stats'],
  ['GET', '/audit', 'audit'],
] as const

type HandlerName = (typeof JOBS_API_ROUTES)[number][2]

/** A job as JSON: bytes args as `{ base64 }`, absent fields as null. */
function jobJson<T extends JobSummary | JobInfo>(job: T): T {
  const args = Buffer.isBuffer(job.args) ? { base64: job.args.toString('base64') } : job.args
  return { ...job, args }
}

/** The JSON body, or `undefined` when there is none (actions whose body is optional). */
async function body(ctx: HttpContext): Promise<unknown> {
  const raw = await ctx.readBody()
  if (raw.length === 0) return undefined
  try {
    return JSON.parse(raw.toString('utf8')) as unknown
  } catch {
    throw new ProtocolError('the body is not valid JSON')
  }
}

function notFound(id: string): Error {
  return new JobNotFoundError(`no job has id ${JSON.stringify(id)}`, { data: { id } })
}

function scheduleNotFound(id: string): Error {
  return new ScheduleNotFoundError(`no schedule has id ${JSON.stringify(id)}`, { data: { id } })
}

export class JobsApi {
  readonly #queue: JobQueue
  readonly #maxBatch: number

  constructor(queue: JobQueue, options: JobsApiOptions = {}) {
    this.#queue = queue
    this.#maxBatch = options.maxBatch ?? 1_000
  }

  /** Adds the routes to `router` under `prefix`. */
  mount(router: Router, prefix = '/api/v1'): void {
    for (const [method, path, name] of JOBS_API_ROUTES) {
      router.on(method, `${prefix}${path}`, (ctx) => this.#handlers[name](ctx))
    }
  }

  #who(ctx: HttpContext): OperatorOptions {
    return { actor: ctx.user ?? 'anonymous' }
  }

  async #audit(ctx: HttpContext, action: string, target: string, data?: unknown): Promise<void> {
    const internals = this.#queue[kJobQueueInternals]
    await appendAudit(internals.db, internals.q, { actor: this.#who(ctx).actor as string, action, target, data })
  }

  readonly #handlers: Record<HandlerName, (ctx: HttpContext) => Promise<void>> = {
    submit: async (ctx) => {
      const { name, args, ...options } = jobItem(await ctx.readJson(), 'body')
      const id = await this.#queue.enqueue(name, args, options)
      await this.#audit(ctx, 'job.submit', `job:${id}`, { name })
      ctx.json(201, { id })
    },
    submitBatch: async (ctx) => {
      const jobs = jobBatch(await ctx.readJson(), this.#maxBatch)
      const ids = await this.#queue.enqueueMany(jobs)
      await this.#audit(ctx, 'job.submit_many', 'jobs', { count: ids.length, first: ids[0], last: ids.at(-1) })
      ctx.json(201, { ids })
    },
    list: async (ctx) => {
      const page = await this.#queue.listJobs(listQuery(ctx.query))
      ctx.json(200, { jobs: page.jobs.map(jobJson), cursor: page.cursor ?? null })
    },
    count: async (ctx) => {
      ctx.json(200, { count: await this.#queue.countJobs(filterQuery(ctx.query)) })
    },
    get: async (ctx) => {
      const job = await this.#queue.getJob(ctx.params.id ?? '')
      if (job === undefined) throw notFound(ctx.params.id ?? '')
      ctx.json(200, jobJson(job))
    },
    cancel: async (ctx) => {
      const id = ctx.params.id ?? ''
      await this.#queue.cancel(id, { ...this.#who(ctx), reason: reasonBody(await body(ctx)) })
      ctx.json(200, { id, status: 'canceled' })
    },
    requeue: async (ctx) => {
      const id = ctx.params.id ?? ''
      await this.#queue.requeue(id, { ...this.#who(ctx), reason: reasonBody(await body(ctx)) })
      ctx.json(200, { id, status: 'pending' })
    },
    cancelMatching: (ctx) => this.#bulk(ctx, (o) => this.#queue.cancelJobs(o)),
    requeueMatching: (ctx) => this.#bulk(ctx, (o) => this.#queue.requeueJobs(o)),
    dispatchStatus: async (ctx) => {
      ctx.json(200, await this.#queue.dispatchStatus())
    },
    pause: async (ctx) => {
      ctx.json(200, await this.#queue.pauseDispatch(reasonBody(await body(ctx)), this.#who(ctx)))
    },
    resume: async (ctx) => {
      ctx.json(200, await this.#queue.resumeDispatch({ ...this.#who(ctx), reason: reasonBody(await body(ctx)) }))
    },
    schedules: async (ctx) => {
      ctx.json(200, { schedules: await this.#queue.listSchedules() })
    },
    addSchedule: async (ctx) => {
      const { name, jobName, payload, spec } = scheduleBody(await ctx.readJson())
      const result = await this.#queue.defineSchedule(jobName, payload, spec, {
        actor: this.#who(ctx).actor,
        ...(name === undefined ? {} : { name }),
      })
      ctx.json(result.created ? 201 : 200, result)
    },
    pauseSchedule: async (ctx) => {
      const id = ctx.params.id ?? ''
      await this.#queue.pauseSchedule(id, { ...this.#who(ctx), reason: reasonBody(await body(ctx)) })
      ctx.json(200, { id, paused: true })
    },
    resumeSchedule: async (ctx) => {
      const id = ctx.params.id ?? ''
      await this.#queue.resumeSchedule(id, { ...this.#who(ctx), reason: reasonBody(await body(ctx)) })
      ctx.json(200, { id, paused: false })
    },
    deleteSchedule: async (ctx) => {
      const id = ctx.params.id ?? ''
      if (!(await this.#queue.deleteSchedule(id, this.#who(ctx)))) throw scheduleNotFound(id)
      ctx.send(204)
    },
    stats: async (ctx) => {
      const stats = await this.#queue.stats()
      ctx.json(200, { ...stats, oldestPendingAgeMs: stats.oldestPendingAgeMs ?? null })
    },
    audit: async (ctx) => {
      const limit = integer(ctx.query, 'limit')
      const before = ctx.query.get('before')
      const entries = await this.#queue.auditLog({
        ...(limit === undefined ? {} : { limit }),
        ...(before === null ? {} : { before }),
      })
      ctx.json(200, { entries })
    },
  }

  /**
   * A bulk cancel or requeue: steps of at most 1,000 jobs, each its own transaction with its audit row,
   * until a step takes none or the client goes away. Answers the total.
   */
  async #bulk(ctx: HttpContext, step: (options: object) => Promise<{ count: number }>): Promise<void> {
    const options = { ...bulkBody(await body(ctx)), ...this.#who(ctx) }
    let total = 0
    for (;;) {
      const { count } = await step(options)
      total += count
      if (count === 0 || ctx.signal.aborted) break
    }
    ctx.json(200, { count: total })
  }
}
