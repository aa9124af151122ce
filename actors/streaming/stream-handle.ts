/** What readers and sinks need of a `Stream` (kept apart so they do not import the class). */
import type { RedisSource } from '../../transports/redis/connection.js'
import type { KeyLayout } from '../../transports/redis/key-layout.js'
import type { ResolvedStreamOptions } from './options.js'

export interface StreamHandle {
  readonly name: string
  readonly key: string
  readonly keyLayout: KeyLayout
  /** Whether `source` is a Redis Cluster. */
  readonly cluster: boolean
  readonly source: RedisSource
  readonly options: ResolvedStreamOptions
}
