/** URLs of the run's servers, provided by the global setup. */
import { inject } from 'vitest'

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string
    databaseUrl: string
    templateDatabase: string
  }
}

export function redisUrl(): string {
  return inject('redisUrl')
}

/** The server's maintenance database (for CREATE DATABASE); tests use `createTestDatabase()`. */
export function databaseUrl(): string {
  return inject('databaseUrl')
}

export function templateDatabase(): string {
  return inject('templateDatabase')
}
