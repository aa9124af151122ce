/**
 * The OpenAPI 3.1 document of the jobs API (`api.ts`), served at `<prefix>/openapi.json`, from which a
 * Go or Python service generates its client. A test checks that its paths and methods are exactly the
 * router's.
 */
import { JOB_STATUSES } from '../../../transports/postgres/jobs/status.js'

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const json = (schema: object) => ({ 'application/json': { schema } })
const ok = (description: string, schema: object) => ({ description, content: json(schema) })
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [String(status), { $ref: `#/components/responses/E${status}` }] as const))
const idParam = (what: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  description: what,
  schema: { type: 'string' },
})
const query = (name: string, schema: object, description: string) => ({ name, in: 'query', schema, description })
const body = (schema: object, required = true) => ({ required, content: json(schema) })
const reason = body({ type: 'object', properties: { reason: { type: 'string' } }, additionalProperties: false }, false)

const kStatus = { type: 'string', enum: [...JOB_STATUSES] }
const kDate = { type: 'string', format: 'date-time' }
const kMatchParams = [
  query('args', { type: 'string' }, 'JSON the args contain (PostgreSQL @>), e.g. {"to":"a@example.com"}.'),
  query('createdAfter', kDate, 'Jobs created at or after this time.'),
  query('createdBefore', kDate, 'Jobs created before this time.'),
]

const schemas = {
  Error: {
    type: 'object',
    required: ['code', 'message'],
    properties: {
      code: { type: 'string', description: 'A stable PULSE_ERR_* code (the README lists them).' },
      message: { type: 'string' },
      name: { type: 'string' },
      data: { type: 'object' },
    },
  },
  JobRequest: {
    type: 'object',
    required: ['name'],
    additionalProperties: false,
    properties: {
      name: { type: 'string' },
      args: { description: 'Any JSON value; null when absent.' },
      priority: { type: 'integer', description: 'Higher runs first.', default: 0 },
      runAt: { ...kDate, description: 'Not before this time.' },
      maxAttempts: { type: 'integer', minimum: 1, default: 25 },
      idempotencyKey: { type: 'string', description: 'A second submit with the key answers the first job’s id.' },
    },
  },
  Job: {
    type: 'object',
    required: ['id', 'name', 'status', 'attempt', 'maxAttempts', 'priority', 'runAt', 'createdAt', 'updatedAt'],
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      args: { description: 'The JSON args; bytes as { base64 }.' },
      status: kStatus,
      priority: { type: 'integer' },
      attempt: { type: 'integer' },
      maxAttempts: { type: 'integer' },
      runAt: kDate,
      lastError: { description: 'The last failure: { name, code?, message, stack? }.' },
      progress: {},
      scheduleId: { type: 'string' },
      occurrence: kDate,
      idempotencyKey: { type: 'string' },
      createdAt: kDate,
      updatedAt: kDate,
    },
  },
  JobWithHistory: {
    allOf: [
      ref('Job'),
      {
        type: 'object',
        required: ['history'],
        properties: {
          history: {
            type: 'array',
            items: {
              type: 'object',
              required: ['seq', 'type', 'attempt', 'at'],
              properties: {
                seq: { type: 'integer' },
                type: { type: 'string', description: 'enqueued, started, completed, failed, retrying, dead, …' },
                attempt: { type: 'integer' },
                at: kDate,
                data: {},
              },
            },
          },
        },
      },
    ],
  },
  Filter: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status: { oneOf: [kStatus, { type: 'array', items: kStatus }] },
      name: { type: 'string' },
      args: { type: ['object', 'array'], description: 'Jobs whose JSON args contain this (PostgreSQL @>).' },
      createdAfter: { ...kDate, description: 'Jobs created at or after this time.' },
      createdBefore: { ...kDate, description: 'Jobs created before this time.' },
      reason: { type: 'string' },
    },
  },
  Count: { type: 'object', required: ['count'], properties: { count: { type: 'integer' } } },
  DispatchStatus: {
    type: 'object',
    required: ['paused'],
    properties: { paused: { type: 'boolean' }, reason: { type: 'string' }, pausedAt: kDate },
  },
  ScheduleRequest: {
    type: 'object',
    required: ['jobName'],
    additionalProperties: false,
    description: 'Exactly one of cron, every and at. A schedule of the same name (default: jobName) is replaced.',
    properties: {
      name: { type: 'string' },
      jobName: { type: 'string' },
      payload: {},
      cron: { type: 'string', examples: ['*/5 * * * *'] },
      tz: { type: 'string', default: 'UTC' },
      every: {
        oneOf: [
          { type: 'integer', minimum: 1 },
          { type: 'string', examples: ['30s', '5m'] },
        ],
      },
      at: kDate,
    },
  },
  Schedule: {
    type: 'object',
    required: ['id', 'name', 'jobName', 'spec', 'paused'],
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      jobName: { type: 'string' },
      args: {},
      spec: { type: 'object', description: '{ kind: every, everyMs } | { kind: cron, expr, tz } | { kind: at, at }' },
      nextRunAt: kDate,
      paused: { type: 'boolean' },
      createdAt: kDate,
      updatedAt: kDate,
    },
  },
  AuditEntry: {
    type: 'object',
    required: ['id', 'at', 'actor', 'action'],
    properties: {
      id: { type: 'string' },
      at: kDate,
      actor: { type: 'string' },
      action: { type: 'string' },
      target: { type: 'string' },
      reason: { type: 'string' },
      data: {},
    },
  },
}

const kErrorDescriptions: Record<number, string> = {
  400: 'Bad input (PULSE_ERR_INVALID_ARG, PULSE_ERR_PROTOCOL)',
  401: 'No valid credentials',
  404: 'Unknown id',
  409: 'The job is not in a status that allows this',
  413: 'The body or the job’s args are too large',
}

export function jobsOpenApi(prefix = '/api/v1'): Record<string, unknown> {
  const p = (path: string) => `${prefix}${path}`
  return {
    openapi: '3.1.0',
    info: { title: 'Pulse jobs API', version: '1', description: 'The durable job queue over HTTP.' },
    security: [{ basic: [] }],
    components: {
      schemas,
      securitySchemes: { basic: { type: 'http', scheme: 'basic' } },
      responses: Object.fromEntries(
        Object.entries(kErrorDescriptions).map(([status, description]) => [
          `E${status}`,
          ok(description, ref('Error')),
        ]),
      ),
    },
    paths: {
      [p('/jobs')]: {
        post: {
          operationId: 'submitJob',
          requestBody: body(ref('JobRequest')),
          responses: {
            201: ok('Submitted', { type: 'object', properties: { id: { type: 'string' } } }),
            ...errors(400, 401, 409, 413),
          },
        },
        get: {
          operationId: 'listJobs',
          description: 'Newest first; pass the answer’s cursor for the next page.',
          parameters: [
            query(
              'status',
              { type: 'array', items: kStatus },
              'Repeat or comma-separate; dead is the dead-letter inbox.',
            ),
            query('name', { type: 'string' }, 'Jobs of this name.'),
            ...kMatchParams,
            query('id', { type: 'string' }, 'The job of this id (one or none).'),
            query('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, 'Page size.'),
            query('cursor', { type: 'string' }, 'The previous page’s cursor.'),
          ],
          responses: {
            200: ok('A page', {
              type: 'object',
              properties: { jobs: { type: 'array', items: ref('Job') }, cursor: { type: ['string', 'null'] } },
            }),
            ...errors(400, 401),
          },
        },
      },
      [p('/jobs/batch')]: {
        post: {
          operationId: 'submitJobs',
          requestBody: body({
            type: 'object',
            required: ['jobs'],
            properties: { jobs: { type: 'array', items: ref('JobRequest') } },
          }),
          responses: {
            201: ok('Submitted, in order', {
              type: 'object',
              properties: { ids: { type: 'array', items: { type: 'string' } } },
            }),
            ...errors(400, 401, 413),
          },
        },
      },
      [p('/jobs/count')]: {
        get: {
          operationId: 'countJobs',
          parameters: [
            query('status', { type: 'array', items: kStatus }, 'Statuses.'),
            query('name', { type: 'string' }, 'Name.'),
            ...kMatchParams,
          ],
          responses: { 200: ok('How many match', ref('Count')), ...errors(400, 401) },
        },
      },
      [p('/jobs/cancel')]: {
        post: {
          operationId: 'cancelJobs',
          description: 'Cancels every job the filter matches (pending, running and retrying ones by default).',
          requestBody: body(ref('Filter'), false),
          responses: { 200: ok('How many were canceled', ref('Count')), ...errors(400, 401) },
        },
      },
      [p('/jobs/requeue')]: {
        post: {
          operationId: 'requeueJobs',
          description: 'Requeues every dead job the filter matches.',
          requestBody: body(ref('Filter'), false),
          responses: { 200: ok('How many were requeued', ref('Count')), ...errors(400, 401) },
        },
      },
      [p('/jobs/{id}')]: {
        get: {
          operationId: 'getJob',
          parameters: [idParam('The job’s id')],
          responses: { 200: ok('The job with its history', ref('JobWithHistory')), ...errors(401, 404) },
        },
      },
      [p('/jobs/{id}/cancel')]: {
        post: {
          operationId: 'cancelJob',
          parameters: [idParam('The job’s id')],
          requestBody: reason,
          responses: { 200: ok('Canceled', { type: 'object' }), ...errors(400, 401, 404, 409) },
        },
      },
      [p('/jobs/{id}/requeue')]: {
        post: {
          operationId: 'requeueJob',
          parameters: [idParam('The job’s id')],
          requestBody: reason,
          responses: {
            200: ok('Pending again, with a fresh attempt budget', { type: 'object' }),
            ...errors(400, 401, 404, 409),
          },
        },
      },
      [p('/dispatch')]: {
        get: {
          operationId: 'dispatchStatus',
          responses: { 200: ok('Dispatch', ref('DispatchStatus')), ...errors(401) },
        },
      },
      [p('/dispatch/pause')]: {
        post: {
          operationId: 'pauseDispatch',
          requestBody: reason,
          responses: { 200: ok('Paused on every replica', ref('DispatchStatus')), ...errors(400, 401) },
        },
      },
      [p('/dispatch/resume')]: {
        post: {
          operationId: 'resumeDispatch',
          requestBody: reason,
          responses: { 200: ok('Running', ref('DispatchStatus')), ...errors(400, 401) },
        },
      },
      [p('/schedules')]: {
        get: {
          operationId: 'listSchedules',
          responses: {
            200: ok('Schedules', {
              type: 'object',
              properties: { schedules: { type: 'array', items: ref('Schedule') } },
            }),
            ...errors(401),
          },
        },
        post: {
          operationId: 'defineSchedule',
          requestBody: body(ref('ScheduleRequest')),
          responses: {
            201: ok('Created', { type: 'object', properties: { id: { type: 'string' }, created: { const: true } } }),
            200: ok('Replaced the schedule of that name', {
              type: 'object',
              properties: { id: { type: 'string' }, created: { const: false } },
            }),
            ...errors(400, 401),
          },
        },
      },
      [p('/schedules/{id}')]: {
        delete: {
          operationId: 'deleteSchedule',
          parameters: [idParam('The schedule’s id')],
          responses: { 204: { description: 'Deleted (its jobs stay)' }, ...errors(401, 404) },
        },
      },
      [p('/schedules/{id}/pause')]: {
        post: {
          operationId: 'pauseSchedule',
          parameters: [idParam('The schedule’s id')],
          requestBody: reason,
          responses: { 200: ok('Paused', { type: 'object' }), ...errors(400, 401, 404) },
        },
      },
      [p('/schedules/{id}/resume')]: {
        post: {
          operationId: 'resumeSchedule',
          parameters: [idParam('The schedule’s id')],
          requestBody: reason,
          responses: { 200: ok('Resumed', { type: 'object' }), ...errors(400, 401, 404) },
        },
      },
      [p('/stats')]: {
        get: {
          operationId: 'stats',
          responses: {
            200: ok('Counts per name and status, and the oldest waiting job’s age', {
              type: 'object',
              properties: {
                byName: {
                  type: 'object',
                  additionalProperties: { type: 'object', additionalProperties: { type: 'integer' } },
                },
                oldestPendingAgeMs: { type: ['number', 'null'] },
              },
            }),
            ...errors(401),
          },
        },
      },
      [p('/audit')]: {
        get: {
          operationId: 'auditLog',
          parameters: [
            query('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, 'Most entries.'),
            query('before', { type: 'string' }, 'Entries older than this id.'),
          ],
          responses: {
            200: ok('Newest first', {
              type: 'object',
              properties: { entries: { type: 'array', items: ref('AuditEntry') } },
            }),
            ...errors(400, 401),
          },
        },
      },
    },
  }
}
