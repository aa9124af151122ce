/** What readers and sinks need of a `Stream` (kept apart so they do not import the class). */
import type { Cluster, Redis } from 'ioredis'

import type { KeyLayout } from '../../transports/redis/key-layout.js'
import type { ResolvedStreamOptions } from './options.js'

export interface StreamHandle {
  readonly name: string
  readonly key: string
  readonly keyLayout: KeyLayout
  /** Whether `source` is a Redis Cluster. */
  readonly cluster: boolean
  readonly source: string | Redis | Cluster
  readonly options: ResolvedStreamOptions
}
