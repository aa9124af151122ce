/** What readers and sinks need of a `Stream` (kept apart so they do not import the class). */
import type { Redis } from 'ioredis'

import type { ResolvedStreamOptions } from './options.js'

export interface StreamHandle {
  readonly name: string
  readonly key: string
  readonly source: string | Redis
  readonly options: ResolvedStreamOptions
}
