/**
 * The text form of a Redis Cluster: `redis-cluster://[user:password@]host:port,host:port,…` (or
 * `rediss-cluster://` for TLS) — its startup nodes, any of which lets a client discover the rest. It is
 * what crosses to a runtime thread, where an ioredis `Cluster` cannot go, and what a user puts in
 * `PULSE_REDIS_URL` or `--redis`.
 */
import type { Cluster, ClusterNode } from 'ioredis'

import { InvalidArgumentError } from '../../runtime/errors.js'

export interface ClusterAddress {
  readonly nodes: readonly { readonly host: string; readonly port: number }[]
  readonly username?: string
  readonly password?: string
  readonly tls: boolean
}

const kSchemes = ['redis-cluster:', 'rediss-cluster:'] as const

export function isClusterUrl(value: string): boolean {
  return kSchemes.some((scheme) => value.startsWith(`${scheme}//`))
}

/** Parses a `redis-cluster://` URL; anything malformed is `PULSE_ERR_INVALID_ARG` (the URL not shown). */
export function parseClusterUrl(url: string): ClusterAddress {
  const scheme = kSchemes.find((s) => url.startsWith(`${s}//`))
  if (scheme === undefined) invalid('must start with redis-cluster:// or rediss-cluster://')
  let rest = url.slice(scheme.length + 2).replace(/\/$/, '')
  let username: string | undefined
  let password: string | undefined
  const at = rest.lastIndexOf('@')
  if (at >= 0) {
    const auth = rest.slice(0, at)
    rest = rest.slice(at + 1)
    const colon = auth.indexOf(':')
    username = decodeURIComponent(colon >= 0 ? auth.slice(0, colon) : auth) || undefined
    password = colon >= 0 ? decodeURIComponent(auth.slice(colon + 1)) : undefined
  }
  const nodes = rest.split(',').map(parseNode)
  return {
    nodes,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    tls: scheme === 'rediss-cluster:',
  }
}

/** The URL of a Cluster client's startup nodes and credentials (the inverse of `parseClusterUrl`). */
export function clusterUrlOf(cluster: Cluster): string {
  const nodes = startupNodes(cluster)
  const o = cluster.options.redisOptions ?? {}
  const auth =
    o.password === undefined || o.password === null
      ? ''
      : `${encodeURIComponent(o.username ?? '')}:${encodeURIComponent(o.password)}@`
  const scheme = o.tls === undefined ? 'redis-cluster' : 'rediss-cluster'
  return `${scheme}://${auth}${nodes.map(({ host, port }) => `${bracket(host)}:${port}`).join(',')}`
}

function startupNodes(cluster: Cluster): { host: string; port: number }[] {
  // ioredis keeps the nodes it was given as `startupNodes` (not in its typings); the live nodes else.
  const given = (cluster as unknown as { startupNodes?: ClusterNode[] }).startupNodes ?? []
  const nodes = given.flatMap((node) => {
    if (typeof node === 'object' && typeof node.port === 'number') {
      return [{ host: node.host ?? '127.0.0.1', port: node.port }]
    }
    return []
  })
  if (nodes.length > 0) return nodes
  return cluster
    .nodes('all')
    .map((redis) => ({ host: redis.options.host ?? '127.0.0.1', port: redis.options.port ?? 6379 }))
}

function parseNode(text: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(text)
  const port = Number(match?.[2])
  if (match === null || port < 1 || port > 65_535) invalid('must list host:port startup nodes separated by commas')
  const host = match[1] ?? ''
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port }
}

function bracket(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

function invalid(message: string): never {
  throw new InvalidArgumentError(`source ${message}`, { data: { option: 'source' } })
}
