/**
 * Fuzzing `pulse server`'s HTTP API (cli/server/pulse-server.ts) in process, on the run's PostgreSQL and
 * Redis: the jobs API (actors/jobs/http/: bodies with fields of every type and hostile strings, ids,
 * filters, cursors, schedule specs), the dashboard's forms and pages (dashboard/: sign-in, CSRF, query
 * strings), `/healthz`, `/metrics` and unknown paths, with Basic credentials right, wrong or missing.
 * Every answer is 2xx/3xx or a 4xx with a stable code — JSON on the API — never a 5xx nor a dropped
 * socket; every job the API accepted is there afterwards, and a valid submit and schedule still work.
 */
import fc from 'fast-check'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'

import { Bus } from '../../../actors/bus/index.js'
import { JobQueue } from '../../../actors/jobs/index.js'
import { PulseServer } from '../../../cli/server/pulse-server.js'
import { ERROR_CODES } from '../../../runtime/errors.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { deleteByPrefix, testPrefix } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { useRawRedis } from '../../helpers/redis.js'
import {
  headerLines,
  headerValue,
  hostileJson,
  hostileText,
  jsonBody,
  notJson,
  oddNumber,
  percent,
  query,
  timeText,
  wrongType,
} from './arbitraries.js'
import { type RawReply, type RawRequest, rawRequest } from './raw-http.js'

const kAuth = `Basic ${Buffer.from('ada:secret').toString('base64')}`
const kViewer = `Basic ${Buffer.from('viewer:look').toString('base64')}`

let db: TestDatabase
let queue: JobQueue
let bus: Bus
let server: PulseServer
let prefix: string
const raw = useRawRedis()

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db?.drop()
})

beforeEach(async () => {
  prefix = `${testPrefix()}srv:`
  queue = await JobQueue.connect({ pg: db.url })
  bus = await Bus.connect(redisUrl(), { namespaces: ['a'], keyPrefix: prefix, heartbeatMs: 1_000 })
  server = await PulseServer.listen({
    queue,
    bus,
    port: 0,
    auth: { users: 'ada:secret,viewer:look:ro' },
    maxBodyBytes: 16 * 1024,
  })
})

afterEach(async () => {
  await server?.close()
  await bus?.close()
  await queue?.close()
  await deleteByPrefix(raw, prefix)
})

// ---- generators ------------------------------------------------------------------------------------

const authorization = fc.oneof(
  { weight: 8, arbitrary: fc.constant(kAuth) },
  { weight: 1, arbitrary: fc.constant(kViewer) },
  { weight: 1, arbitrary: fc.oneof(headerValue, fc.constant(undefined), fc.constant('Basic YWRhOndyb25n')) },
)
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined })
const segment = fc.oneof(hostileText, fc.nat().map(String), fc.constantFrom('1', '0', '-1', '9999999999999999999999'))

const job = fc.record(
  {
    name: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('fuzz', 'fuzz.other') }, hostileText, wrongType),
    args: hostileJson,
    priority: oddNumber,
    runAt: fc.oneof(timeText, wrongType),
    maxAttempts: oddNumber,
    idempotencyKey: fc.oneof(hostileText, wrongType),
    colour: fc.string(),
  },
  { requiredKeys: [] },
)
const filter = fc.record(
  {
    status: fc.oneof(fc.constantFrom('pending', 'dead', 'running', 'lost'), wrongType),
    name: fc.oneof(hostileText, wrongType),
    reason: fc.oneof(hostileText, wrongType),
    args: hostileJson,
    createdAfter: fc.oneof(timeText, wrongType),
    createdBefore: fc.oneof(timeText, wrongType),
  },
  { requiredKeys: [] },
)
const schedule = fc.record(
  {
    jobName: fc.oneof(fc.constant('fuzz'), hostileText, wrongType),
    name: fc.oneof(hostileText, wrongType),
    payload: hostileJson,
    cron: fc.oneof(
      fc.constantFrom('* * * * *', '0 0 31 2 *', '*/0 * * * *', '@hourly', '@nope', '60 * * * *', '0 0 * * 8'),
      hostileText,
      wrongType,
    ),
    tz: fc.oneof(fc.constantFrom('UTC', 'Europe/Paris', 'Nope/Zone', ''), hostileText, wrongType),
    every: fc.oneof(
      fc.constantFrom('1s', '5m', '0s', '-1s', '100y', 'often', '1e3'),
      hostileText,
      oddNumber,
      wrongType,
    ),
    at: fc.oneof(timeText, wrongType),
  },
  { requiredKeys: [] },
)
const body = (shape: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 4, arbitrary: shape.map(jsonBody) },
    { weight: 1, arbitrary: notJson },
    {
      weight: 1,
      arbitrary: fc.constant(Buffer.alloc(0)),
    },
  )
const listQuery = fc.record(
  {
    status: fc.oneof(fc.constantFrom('pending', 'dead,pending', 'lost'), hostileText),
    name: hostileText,
    id: segment,
    args: fc.oneof(
      hostileJson.map((v) => JSON.stringify(v) ?? ''),
      hostileText,
    ),
    createdAfter: timeText,
    createdBefore: timeText,
    limit: fc.oneof(fc.nat().map(String), fc.constantFrom('-1', '0', '1001', '99999999999999999999', 'ten')),
    cursor: fc.oneof(segment, fc.constantFrom('0', '-1', 'abc')),
    before: segment,
  },
  { requiredKeys: [] },
)

/** The jobs API: every route, bodies and query strings of every shape. */
const apiRequest: fc.Arbitrary<RawRequest> = fc
  .oneof(
    body(job).map((b) => ['POST', '/jobs', b] as const),
    body(fc.record({ jobs: fc.oneof(fc.array(job, { maxLength: 3 }), wrongType) }, { requiredKeys: [] })).map(
      (b) => ['POST', '/jobs/batch', b] as const,
    ),
    listQuery.map((q) => ['GET', `/jobs${query(q)}`, undefined] as const),
    listQuery.map((q) => ['GET', `/jobs/count${query(q)}`, undefined] as const),
    fc
      .tuple(fc.constantFrom('cancel', 'requeue'), body(filter))
      .map(([action, b]) => ['POST', `/jobs/${action}`, b] as const),
    fc
      .tuple(segment, fc.constantFrom('', '/cancel', '/requeue'), body(fc.record({ reason: hostileJson })))
      .map(([id, action, b]) => [action === '' ? 'GET' : 'POST', `/jobs/${percent(id)}${action}`, b] as const),
    fc
      .constantFrom('GET /dispatch', 'POST /dispatch/pause', 'POST /dispatch/resume', 'GET /schedules', 'GET /stats')
      .chain((route) =>
        body(fc.record({ reason: hostileJson }, { requiredKeys: [] })).map((b) => {
          const [method = 'GET', path = '/'] = route.split(' ')
          return [method, path, b] as const
        }),
      ),
    body(schedule).map((b) => ['POST', '/schedules', b] as const),
    fc.tuple(segment, fc.constantFrom('POST /pause', 'POST /resume', 'DELETE ')).map(([id, route]) => {
      const [method = 'POST', tail = ''] = route.split(' ')
      return [method, `/schedules/${percent(id)}${tail}`, undefined] as const
    }),
    listQuery.map((q) => ['GET', `/audit${query({ limit: q.limit, before: q.before })}`, undefined] as const),
    fc.array(segment, { maxLength: 3 }).map((p) => ['GET', `/${p.map(percent).join('/')}`, undefined] as const),
  )
  .chain(([method, path, b]) =>
    fc
      .record({ auth: authorization, type: maybe(fc.oneof(fc.constant('application/json'), headerValue)) })
      .map(({ auth, type }) => ({
        method,
        target: `/api/v1${path}`,
        ...(b === undefined ? {} : { body: b }),
        headers: headerLines({ Authorization: auth, 'Content-Type': type }),
      })),
  )

/** The dashboard: its pages with query strings, its forms, with or without the session and the CSRF token. */
function dashboardRequest(session: { cookie: string; csrf: string }): fc.Arbitrary<RawRequest> {
  const page = fc.constantFrom(
    '/',
    '/jobs',
    '/audit',
    '/dispatch',
    '/schedules',
    '/maps',
    '/pools',
    '/streams',
    '/runtime',
  )
  // Forms with the right token and credentials half the time, so that the actions behind them run.
  const form = fc
    .tuple(
      fc.dictionary(fc.constantFrom('_csrf', 'next', 'reason', 'name', 'status', 'ids', 'x'), hostileText, {
        maxKeys: 4,
      }),
      fc.boolean(),
      fc.boolean(),
      fc.option(
        hostileText.map((t) => `/ui/${t}`),
        { nil: undefined },
      ),
    )
    .map(([fields, token, user, next]) => ({
      ...fields,
      ...(next === undefined ? {} : { next }),
      ...(token ? { _csrf: session.csrf } : {}),
      ...(user ? { user: 'ada', password: 'secret' } : {}),
    }))
    .map((fields) => Buffer.from(new URLSearchParams(fields).toString()))
  return fc
    .oneof(
      fc
        .tuple(page, listQuery)
        .map(
          ([p, q]) =>
            [
              'GET',
              `${p}${query({ status: q.status, name: q.name, args: q.args, cursor: q.cursor })}`,
              undefined,
            ] as const,
        ),
      fc
        .tuple(segment, fc.constantFrom('jobs', 'maps', 'pools', 'streams', 'assets'))
        .map(([name, what]) => ['GET', `/${what}/${percent(name)}`, undefined] as const),
      fc
        .tuple(
          fc.constantFrom(
            '/login',
            '/logout',
            '/jobs/bulk',
            '/jobs/confirm',
            '/dispatch/pause',
            '/jobs/1/cancel',
            '/schedules/1/delete',
          ),
          form,
        )
        .map(([p, f]) => ['POST', p, f] as const),
      hostileText.map((next) => ['GET', `/login${query({ next })}`, undefined] as const),
    )
    .chain(([method, path, b]) =>
      fc
        .record({
          cookie: fc.boolean(),
          csrf: fc.boolean(),
          accept: fc.constantFrom('text/html', 'application/json', undefined),
        })
        .map((r) => ({
          method,
          target: `/ui${path}`,
          ...(b === undefined ? {} : { body: b }),
          headers: headerLines({
            Cookie: r.cookie ? session.cookie : undefined,
            'X-CSRF-Token': r.csrf ? session.csrf : undefined,
            Accept: r.accept,
            'Content-Type': 'application/x-www-form-urlencoded',
          }),
        })),
    )
}

const otherRequest: fc.Arbitrary<RawRequest> = fc
  .tuple(
    fc.constantFrom('GET /healthz', 'GET /metrics', 'DELETE /', 'PATCH /api/v1/jobs', 'GET /api/v2/x'),
    authorization,
  )
  .map(([route, auth]) => {
    const [method = 'GET', target = '/'] = route.split(' ')
    return { method, target, headers: headerLines({ Authorization: auth, Accept: 'application/json' }) }
  })

// ---- checks ------------------------------------------------------------------------------------------

function checkAnswer(request: RawRequest, reply: RawReply): void {
  const where = `${request.method} ${request.target.slice(0, 100)} ${request.body?.subarray(0, 100).toString() ?? ''}`
  expect(reply.dropped, where).toBeUndefined()
  expect(reply.status, `${where} → ${reply.status} ${reply.body.slice(0, 300)}`).toBeGreaterThanOrEqual(200)
  expect(reply.status, `${where} → ${reply.status} ${reply.body.slice(0, 300)}`).toBeLessThan(500)
  if (reply.status < 400) return
  if (request.target.startsWith('/api/') || (reply.headers['content-type'] ?? '').startsWith('application/json')) {
    const parsed = JSON.parse(reply.body) as { code?: string }
    expect(Object.keys(ERROR_CODES), where).toContain(parsed.code)
  } else {
    // A dashboard page: of the error (its code in the text), or one saying what is missing or wrong.
    expect(reply.headers['content-type'], where).toMatch(/^text\/(html|plain)/)
    expect(reply.body, where).not.toMatch(/internal error/)
  }
}

/** The ids of the jobs an answer says were created. */
function createdIds(request: RawRequest, reply: RawReply): string[] {
  if (request.method !== 'POST' || reply.status !== 201 || !request.target.startsWith('/api/v1/jobs')) return []
  const parsed = JSON.parse(reply.body) as { id?: string; ids?: string[] }
  return parsed.ids ?? (parsed.id === undefined ? [] : [parsed.id])
}

const cookieOf = (reply: RawReply) => (reply.headers['set-cookie'] ?? '').split(';')[0] ?? ''

/** Posts the dashboard's sign-in form (with the cookie and CSRF token of a fresh form) for `next`. */
async function postSignIn(next: string): Promise<RawReply> {
  const form = await rawRequest(server.url, { method: 'GET', target: '/ui/login' })
  const token = /name="_csrf" value="([^"]*)"/.exec(form.body)?.[1] ?? ''
  return rawRequest(server.url, {
    method: 'POST',
    target: '/ui/login',
    headers: [
      ['Cookie', cookieOf(form)],
      ['Content-Type', 'application/x-www-form-urlencoded'],
    ],
    body: Buffer.from(new URLSearchParams({ _csrf: token, user: 'ada', password: 'secret', next }).toString()),
  })
}

/** Signs in through the dashboard's form: the session cookie and the page's CSRF token. */
async function signIn(): Promise<{ cookie: string; csrf: string }> {
  const signedIn = await postSignIn('/ui/jobs')
  expect(signedIn.status).toBe(303)
  const cookie = cookieOf(signedIn)
  const page = await rawRequest(server.url, { method: 'GET', target: '/ui/jobs', headers: [['Cookie', cookie]] })
  const csrf = /<meta name="csrf-token" content="([^"]*)"/.exec(page.body)?.[1] ?? ''
  expect(csrf).not.toBe('')
  return { cookie, csrf }
}

describe('pulse server under hostile requests', () => {
  it('answers every request with a success, a redirect or a typed 4xx, and keeps every job it accepted', async () => {
    const session = await signIn()
    const accepted: string[] = []
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 6, arbitrary: apiRequest },
          { weight: 2, arbitrary: dashboardRequest(session) },
          {
            weight: 1,
            arbitrary: otherRequest,
          },
        ),
        async (request) => {
          const reply = await rawRequest(server.url, request)
          checkAnswer(request, reply)
          accepted.push(...createdIds(request, reply))
        },
      ),
      { numRuns: 300 },
    )
    // Nothing accepted was lost, and the API still takes a valid job and schedule.
    for (const id of accepted) expect((await queue.getJob(id))?.id).toBe(id)
    const submit = await rawRequest(server.url, {
      method: 'POST',
      target: '/api/v1/jobs',
      headers: [['Authorization', kAuth]],
      body: jsonBody({ name: 'after', args: { ok: true } }),
    })
    expect(submit.status).toBe(201)
    const { id } = JSON.parse(submit.body) as { id: string }
    const got = await rawRequest(server.url, {
      method: 'GET',
      target: `/api/v1/jobs/${id}`,
      headers: [['Authorization', kAuth]],
    })
    expect(JSON.parse(got.body)).toMatchObject({ id, name: 'after', args: { ok: true } })
    const added = await rawRequest(server.url, {
      method: 'POST',
      target: '/api/v1/schedules',
      headers: [['Authorization', kAuth]],
      body: jsonBody({ jobName: 'after', name: 'after-schedule', every: '1h' }),
    })
    expect(added.status).toBeLessThan(300)
  })

  it('regressions: dates PostgreSQL cannot store, an empty period, a sign-in `next` no header can carry', async () => {
    const api = (method: string, target: string, value?: unknown) =>
      rawRequest(server.url, {
        method,
        target: `/api/v1${target}`,
        headers: [['Authorization', kAuth]],
        ...(value === undefined ? {} : { body: jsonBody(value) }),
      })
    // Each answered 500 PULSE_ERR_PG_QUERY (timestamp out of range) or 500 PULSE_ERR_INTERNAL (`ms('')` threw).
    const before = '-004713-11-23T23:59:59.999Z'
    for (const reply of [
      await api('GET', `/jobs/count${query({ createdBefore: before })}`),
      await api('GET', `/jobs${query({ createdAfter: before })}`),
      await api('POST', '/jobs', { name: 'j', runAt: before }),
      await api('POST', '/jobs/cancel', { createdAfter: before }),
      await api('POST', '/schedules', { jobName: 'j', at: before }),
      await api('POST', '/schedules', { jobName: 'j', every: '' }),
    ]) {
      expect([reply.status, (JSON.parse(reply.body) as { code: string }).code]).toEqual([400, 'PULSE_ERR_INVALID_ARG'])
    }
    expect((await api('GET', `/jobs/count${query({ createdAfter: '-004713-11-24T00:00:00Z' })}`)).status).toBe(200)
    // A sign-in whose `next` holds what a Location header cannot carry answered 500 after the password passed.
    for (const next of ['/ui/中', '/ui/\u0001', '/ui/jobs?name=é']) {
      const signedIn = await postSignIn(next)
      expect([signedIn.status, signedIn.headers.location]).toEqual([303, '/ui/'])
    }
  })
})
