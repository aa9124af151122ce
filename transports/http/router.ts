/**
 * Routes by method and path. A path pattern is `/`-separated segments: a literal, `:name` (one
 * segment, URL-decoded, into `params.name`), or a last `*` (the rest, into `params['*']`); the pattern
 * `*` alone takes every path, and the method `*` every method. The first route added that matches wins.
 * `HEAD` falls back to the `GET` routes. No match: `NoRouteError`, a 404, or a 405 listing in
 * `data.allow` the methods the path takes.
 */
import { InvalidArgumentError, NoRouteError } from '../../runtime/errors.js'
import { checkFunction, checkString } from '../../runtime/options.js'
import type { HttpContext } from './context.js'

export type HttpHandler = (ctx: HttpContext) => unknown

export interface RouteMatch {
  readonly handler: HttpHandler
  readonly params: Readonly<Record<string, string>>
}

interface Route {
  readonly method: string
  readonly segments: readonly string[] | '*'
  readonly handler: HttpHandler
}

function splitPath(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '')
}

function matchPath(segments: readonly string[] | '*', parts: readonly string[]): Record<string, string> | undefined {
  if (segments === '*') return { '*': parts.join('/') }
  const params: Record<string, string> = {}
  for (let k = 0; k < segments.length; k++) {
    const segment = segments[k] as string
    if (segment === '*' && k === segments.length - 1) {
      params['*'] = parts.slice(k).join('/')
      return params
    }
    const part = parts[k]
    if (part === undefined) return undefined
    if (segment.startsWith(':')) {
      try {
        params[segment.slice(1)] = decodeURIComponent(part)
      } catch {
        return undefined
      }
    } else if (segment !== part) {
      return undefined
    }
  }
  return parts.length === segments.length ? params : undefined
}

export class Router {
  readonly #routes: Route[] = []

  /** Adds a route for one method, several, or `'*'` (any). */
  on(method: string | readonly string[], path: string, handler: HttpHandler): this {
    checkFunction(handler, 'handler')
    checkString(path, 'path', { nonEmpty: true })
    const segments = path === '*' ? '*' : splitPath(path)
    if (segments !== '*' && segments.slice(0, -1).includes('*')) {
      throw new InvalidArgumentError(`path "${path}" may have "*" only as its last segment`, {
        data: { option: 'path' },
      })
    }
    for (const m of typeof method === 'string' ? [method] : method) {
      checkString(m, 'method', { pattern: /^(\*|[A-Z]+)$/ })
      this.#routes.push({ method: m, segments, handler })
    }
    return this
  }

  get(path: string, handler: HttpHandler): this {
    return this.on('GET', path, handler)
  }

  post(path: string, handler: HttpHandler): this {
    return this.on('POST', path, handler)
  }

  put(path: string, handler: HttpHandler): this {
    return this.on('PUT', path, handler)
  }

  delete(path: string, handler: HttpHandler): this {
    return this.on('DELETE', path, handler)
  }

  /** The route for `method` and `pathname`; throws `NoRouteError` (404, or 405 with `data.allow`). */
  find(method: string, pathname: string): RouteMatch {
    const parts = splitPath(pathname)
    const allow = new Set<string>()
    const lookup = (wanted: string): RouteMatch | undefined => {
      for (const route of this.#routes) {
        const params = matchPath(route.segments, parts)
        if (params === undefined) continue
        if (route.method === wanted || route.method === '*') return { handler: route.handler, params }
        allow.add(route.method)
      }
      return undefined
    }
    const found = lookup(method) ?? (method === 'HEAD' ? lookup('GET') : undefined)
    if (found !== undefined) return found
    if (allow.size > 0) {
      throw new NoRouteError(`${method} is not allowed on ${pathname}`, {
        data: { method, path: pathname, allow: [...allow] },
      })
    }
    throw new NoRouteError(`no route for ${method} ${pathname}`, { data: { method, path: pathname } })
  }
}
