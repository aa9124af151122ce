/** Errors over HTTP: status by code, the JSON body, the 405's Allow, and the error a client rebuilds. */
import { describe, expect, it } from 'vitest'

import {
  BodyTooLargeError,
  InvalidArgumentError,
  JobNotFoundError,
  NoRouteError,
  PulseError,
  TimeoutError,
  UnauthorizedError,
} from '../../../runtime/errors.js'
import { errorBody, errorFromBody, httpStatusOf, sendError } from '../../../transports/http/index.js'
import { request, response } from './messages.js'

describe('status of an error', () => {
  it.each([
    [new InvalidArgumentError('x'), 400],
    [new UnauthorizedError('x'), 401],
    [new NoRouteError('x'), 404],
    [new BodyTooLargeError('x'), 413],
    [new TimeoutError('x'), 504],
    [new JobNotFoundError('x'), 500], // not in the default table
    [new Error('x'), 500],
    ['a string', 500],
  ] as const)('%s → %i', (error, status) => {
    expect(httpStatusOf(error)).toBe(status)
  })

  it('is 405 for a NoRouteError that lists allowed methods, 404 when the list is empty', () => {
    expect(httpStatusOf(new NoRouteError('x', { data: { allow: ['GET'] } }))).toBe(405)
    expect(httpStatusOf(new NoRouteError('x', { data: { allow: [] } }))).toBe(404)
  })

  it('follows the caller’s table over the defaults, and the defaults for codes it leaves out', () => {
    const table = { PULSE_ERR_JOB_NOT_FOUND: 404 }
    expect(httpStatusOf(new JobNotFoundError('x'), table)).toBe(404)
    expect(httpStatusOf(new InvalidArgumentError('x'), table)).toBe(400)
  })
})

describe('the error body', () => {
  it('carries code, message, name and data of a PulseError', () => {
    expect(errorBody(new InvalidArgumentError('bad', { data: { option: 'n' } }))).toEqual({
      code: 'PULSE_ERR_INVALID_ARG',
      message: 'bad',
      name: 'InvalidArgumentError',
      data: { option: 'n' },
    })
  })

  it('says nothing of an unexpected error beyond "internal error"', () => {
    expect(errorBody(new Error('password=hunter2 at db.internal'))).toEqual({
      code: 'PULSE_ERR_INTERNAL',
      message: 'internal error',
      name: 'PulseError',
    })
  })

  it('is answered with its status, JSON content type and length, and Allow on a 405', () => {
    const res = response()
    sendError(res, new NoRouteError('PUT is not allowed', { data: { allow: ['GET', 'POST'] } }))
    expect(res.statusCode).toBe(405)
    expect(res.getHeader('allow')).toBe('GET, POST')
    expect(res.getHeader('content-type')).toBe('application/json; charset=utf-8')
    expect(res.getHeader('content-length')).toBe(
      Buffer.byteLength(
        JSON.stringify(errorBody(new NoRouteError('PUT is not allowed', { data: { allow: ['GET', 'POST'] } }))),
      ),
    )
  })

  it('cuts the response when its head was already sent', () => {
    const res = response(request())
    res.writeHead(200)
    sendError(res, new TimeoutError('late'))
    expect(res.destroyed).toBe(true)
    expect(res.statusCode).toBe(200)
  })
})

describe('the error a client rebuilds', () => {
  it('is the class of the body’s code, from a body of today or the nested one of servers before 0.2', () => {
    const body = errorBody(new JobNotFoundError('no job 7', { data: { id: '7' } }))
    for (const received of [body, { error: body }]) {
      const error = errorFromBody(404, received)
      expect(error).toBeInstanceOf(JobNotFoundError)
      expect(error).toMatchObject({ message: 'no job 7', data: { id: '7' } })
    }
  })

  it('is PULSE_ERR_INTERNAL naming the status for a body that is not ours', () => {
    const foreign = [
      '<html>Bad Gateway</html>',
      null,
      undefined,
      { message: 'x' },
      { code: 'BadGateway', message: 'upstream failed' }, // another service's JSON error
      { name: 'Error', message: 'x', code: 'ECONNRESET' }, // a record, but no Pulse code
      { error: 'no upstream' },
    ]
    for (const body of foreign) {
      const error = errorFromBody(502, body)
      expect(error).toBeInstanceOf(PulseError)
      expect(error).toMatchObject({ code: 'PULSE_ERR_INTERNAL', data: { status: 502 } })
    }
  })
})
