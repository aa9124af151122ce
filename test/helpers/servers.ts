/** URLs of the run's servers, provided by the global setup. */
import { inject } from 'vitest'

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string
    redisClusterUrl: string
    databaseUrl: string
    pgbouncerUrl: string
    templateDatabase: string
  }
}

export function redisUrl(): string {
  return inject('redisUrl')
}

/** The run's Redis Cluster (3 masters, 3 replicas): a `redis-cluster://` URL of every node. */
export function redisClusterUrl(): string {
  return inject('redisClusterUrl')
}

/** The server's maintenance database (for CREATE DATABASE); tests use `createTestDatabase()`. */
export function databaseUrl(): string {
  return inject('databaseUrl')
}

/** A PgBouncer in transaction mode in front of `databaseUrl()`'s server (its maintenance database). */
export function pgbouncerUrl(): string {
  return inject('pgbouncerUrl')
}

export function templateDatabase(): string {
  return inject('templateDatabase')
}
