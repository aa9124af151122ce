/** Routing: literals, `:params`, a trailing `*`, HEAD to GET, and 404 / 405 with the allowed methods. */
import { describe, expect, it } from 'vitest'

import { Router } from '../../../transports/http/index.js'
import type { HttpHandler } from '../../../transports/http/index.js'

const named = (name: string): HttpHandler => Object.assign(() => name, { label: name })
const which = (router: Router, method: string, path: string) => {
  const { handler, params } = router.find(method, path)
  return { name: (handler as HttpHandler & { label: string }).label, params }
}

describe('the router', () => {
  it('matches literals and params, URL-decoding each param', () => {
    const router = new Router().get('/jobs', named('list')).get('/jobs/:id', named('one'))
    expect(which(router, 'GET', '/jobs')).toEqual({ name: 'list', params: {} })
    expect(which(router, 'GET', '/jobs/a%2Fb%20c')).toEqual({ name: 'one', params: { id: 'a/b c' } })
    expect(which(router, 'GET', '/jobs/42/')).toEqual({ name: 'one', params: { id: '42' } }) // empty segments drop
  })

  it('takes the first route added that matches', () => {
    const router = new Router().get('/a/:x', named('param')).get('/a/b', named('literal'))
    expect(which(router, 'GET', '/a/b').name).toBe('param')
  })

  it('a trailing * takes the rest of the path, none included; * alone takes every path', () => {
    const router = new Router().get('/ui/*', named('ui')).on('*', '*', named('any'))
    expect(which(router, 'GET', '/ui/a/b').params).toEqual({ '*': 'a/b' })
    expect(which(router, 'GET', '/ui').params).toEqual({ '*': '' })
    expect(which(router, 'PATCH', '/x/y')).toEqual({ name: 'any', params: { '*': 'x/y' } })
  })

  it('answers HEAD with the GET route unless a HEAD route exists', () => {
    const router = new Router().get('/a', named('get'))
    expect(which(router, 'HEAD', '/a').name).toBe('get')
    router.on('HEAD', '/a', named('head'))
    expect(which(router, 'HEAD', '/a').name).toBe('head')
  })

  it('throws a 404 NoRouteError for an unknown path, and for a param that is not valid percent-encoding', () => {
    const router = new Router().get('/jobs/:id', named('one'))
    expect(() => router.find('GET', '/nope')).toThrow(
      expect.objectContaining({ code: 'PULSE_ERR_HTTP_NO_ROUTE', data: { method: 'GET', path: '/nope' } }),
    )
    expect(() => router.find('GET', '/jobs/%E0%A4%A')).toThrow(/no route for GET/)
    expect(() => router.find('GET', '/jobs/1/2')).toThrow(/no route/)
  })

  it('throws a 405 listing every method the path takes', () => {
    const router = new Router().get('/jobs', named('list')).post('/jobs', named('add')).delete('/jobs/:id', named('rm'))
    expect(() => router.find('PUT', '/jobs')).toThrow(
      expect.objectContaining({
        message: 'PUT is not allowed on /jobs',
        data: expect.objectContaining({ allow: ['GET', 'POST'] }) as object,
      }),
    )
  })

  it('refuses a * before the last segment, a lower-case method, an empty path or a handler that is no function', () => {
    const invalid = expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG' }) as Error
    expect(() => new Router().get('/a/*/b', named('x'))).toThrow(/only as its last segment/)
    expect(() => new Router().on('get', '/a', named('x'))).toThrow(invalid)
    expect(() => new Router().on(['GET', 'post'], '/a', named('x'))).toThrow(invalid)
    expect(() => new Router().get('', named('x'))).toThrow(invalid)
    expect(() => new Router().get('/a', 'nope' as never)).toThrow(invalid)
  })
})
