/**
 * `Stream`: one Redis stream (`pulse:stream:<name>`, or `pulse:stream:{<name>}` in the `cluster` key
 * layout, transports/redis/streaming/keys.ts). The constructor validates (a `compat` layout on a Redis
 * Cluster is refused there) and does no I/O; the connection is made on first use. Adds are XADD (with `MAXLEN ~` and the TTL in the same round trip);
 * readers and sinks made from a stream have connections of their own, so a blocking read never holds up
 * `add`. Closing a stream closes its connection, not the readers and sinks made from it.
 */
import type { Redis } from 'ioredis'

import { InvalidArgumentError } from '../../runtime/errors.js'
import { Closeable } from '../../runtime/lifecycle.js'
import { checkKnownKeys, checkString } from '../../runtime/options.js'
import {
  checkRedisSource,
  createRedis,
  isClusterSource,
  type PulseRedis,
  type RedisSource,
} from '../../transports/redis/connection.js'
import { type KeyLayout, resolveKeyLayout } from '../../transports/redis/key-layout.js'
import { pipelineReplies } from '../../transports/redis/pipeline-replies.js'
import { contentKey, updatesChannel } from '../../transports/redis/rmap/keys.js'
import { kMapScripts } from '../../transports/redis/rmap/scripts.js'
import { entryArgs, type EntryFields } from '../../transports/redis/streaming/entry.js'
import { kStreamNamePattern, sinksMapName, streamKey } from '../../transports/redis/streaming/keys.js'
import {
  type AddOptions,
  type ReaderOptions,
  resolveAddOptions,
  resolveStreamOptions,
  type ResolvedStreamOptions,
  type SinkOptions,
  type StreamOptions,
} from './options.js'
import { Reader } from './reader.js'
import { Sink } from './sink.js'
import { readStreamInfo, type StreamInfo } from './stream-info.js'
import { streamMetrics } from './metrics.js'
import { endAdd, startAdd } from './tracing.js'

/** An event to add with `addMany`. */
export interface NewEvent {
  readonly name: string
  readonly payload: Uint8Array | string
  readonly topic?: string | undefined
}

export class Stream extends Closeable {
  readonly name: string
  /** `pulse:stream:<name>` (`pulse:stream:{<name>}` in the `cluster` layout). */
  readonly key: string
  /** The layout of the stream's keys and of its sinks' (options.ts `keyLayout`). */
  readonly keyLayout: KeyLayout
  /** Whether `source` is a Redis Cluster. */
  readonly cluster: boolean
  readonly options: ResolvedStreamOptions
  /** Where readers and sinks connect: the URL or client the stream was made with. */
  readonly source: RedisSource
  /** `pulse_stream_events_added_total` of this stream, with `options.metrics`. */
  readonly #added: { inc(n?: number): void } | undefined
  #redis: PulseRedis | undefined

  constructor(redis: RedisSource, name: string, options?: StreamOptions) {
    checkRedisSource(redis)
    const checked = checkStreamName(name, 'name')
    super({ name: `Stream "${checked}"`, closeTimeoutMs: 5_000 })
    this.name = checked
    this.options = resolveStreamOptions(options)
    this.cluster = isClusterSource(redis)
    this.keyLayout = resolveKeyLayout(this.options.keyLayout, this.cluster)
    this.key = streamKey(this.name, this.keyLayout)
    this.source = redis
    const { metrics } = this.options
    this.#added = metrics === undefined ? undefined : streamMetrics(metrics).added.labels({ stream: this.name })
  }

  /** The stream's command connection (made on first use). */
  get redis(): PulseRedis {
    this.assertOpen('use')
    this.#redis ??= createRedis(this.source, { name: `pulse:stream:${this.name}` })
    return this.#redis
  }

  /** Adds one event; resolves its id, or `undefined` when `onlyIfExists` and the stream is missing. */
  async add(eventName: string, payload: Uint8Array | string, options?: AddOptions): Promise<string | undefined> {
    const { topic, onlyIfExists } = resolveAddOptions(options)
    const fields = checkEvent({ name: eventName, payload, topic }, '')
    const pipeline = this.redis.client.pipeline()
    const { span, trace } = startAdd(this.name)
    pipeline.xadd(this.key, ...this.#xaddHead(onlyIfExists), ...entryArgs(fields, trace))
    this.#expire(pipeline)
    try {
      const [id] = pipelineReplies(await pipeline.exec()) as [string | null]
      endAdd(span, { id: id ?? undefined })
      if (id !== null) this.#added?.inc()
      return id ?? undefined
    } catch (error) {
      endAdd(span, { error })
      throw error
    }
  }

  /**
   * Adds events in one pipelined round trip; resolves their ids in order. When it rejects (the
   * connection dropped), some of the events may have been added: the caller decides what to add again.
   */
  async addMany(events: readonly NewEvent[]): Promise<string[]> {
    if (!Array.isArray(events))
      throw new InvalidArgumentError('events must be an array', { data: { option: 'events' } })
    const list: readonly NewEvent[] = events
    const checked = list.map((event, i) => {
      checkKnownKeys(event, ['name', 'payload', 'topic'], `events[${i}]`)
      return checkEvent(event, `events[${i}].`)
    })
    if (checked.length === 0) return []
    const pipeline = this.redis.client.pipeline()
    const { span, trace } = startAdd(this.name, checked.length)
    for (const fields of checked) pipeline.xadd(this.key, ...this.#xaddHead(false), ...entryArgs(fields, trace))
    this.#expire(pipeline)
    try {
      const ids = pipelineReplies(await pipeline.exec()).slice(0, checked.length) as string[]
      endAdd(span, { id: undefined })
      this.#added?.inc(checked.length)
      return ids
    } catch (error) {
      endAdd(span, { error })
      throw error
    }
  }

  /** Deletes entries by id (XDEL); resolves how many existed. */
  async remove(...ids: string[]): Promise<number> {
    ids.forEach((id, i) => checkString(id, `ids[${i}]`, { nonEmpty: true }))
    if (ids.length === 0) return 0
    return this.redis.client.xdel(this.key, ...ids)
  }

  /**
   * Deletes the stream, and its sinks map the way a replicated map is destroyed (the hash keeps the
   * tombstone `{=rev, =kind: destroy}` and replicas hear of it), as v1.6.5 does.
   */
  async destroy(): Promise<void> {
    const client = this.redis.client
    await client.del(this.key)
    const sinks = sinksMapName(this.name, this.keyLayout)
    const keys = [contentKey(sinks, this.keyLayout), updatesChannel(sinks, this.keyLayout)]
    if ((await client.exists(keys[0] as string)) === 1) {
      await kMapScripts.destroy.run(client, keys, [String(this.#ttlMs()), this.#ttlMode()])
    }
  }

  /**
   * What Redis holds of the stream now, read-only: its length, first and last event ids, and its sinks
   * (consumer groups) with their pending counts and consumers; `undefined` when the stream does not
   * exist (no key).
   */
  async info(): Promise<StreamInfo | undefined> {
    return readStreamInfo(this.redis.client, this.name, this.key)
  }

  /** A reader with its own cursor; it starts reading when the first subscription iterates. */
  async newReader(options?: ReaderOptions): Promise<Reader> {
    this.assertOpen('newReader')
    return Reader.open(this, options)
  }

  /** An instance of sink `name` (a consumer group): same-name instances split the events. */
  async newSink(name: string, options?: SinkOptions): Promise<Sink> {
    this.assertOpen('newSink')
    return Sink.open(this, checkStreamName(name, 'name'), options)
  }

  /** The TTL arguments of the sinks map's scripts, the stream's own TTL. */
  #ttlMs(): number {
    return this.options.ttlMs > 0 ? this.options.ttlMs : this.options.slidingTtlMs
  }

  #ttlMode(): 'absolute' | 'sliding' {
    return this.options.ttlMs > 0 ? 'absolute' : 'sliding'
  }

  #xaddHead(onlyIfExists: boolean): string[] {
    const head: string[] = onlyIfExists ? ['NOMKSTREAM'] : []
    if (this.options.maxLen > 0) head.push('MAXLEN', '~', String(this.options.maxLen))
    head.push('*')
    return head
  }

  #expire(pipeline: ReturnType<Redis['pipeline']>): void {
    if (this.options.ttlMs > 0) pipeline.pexpire(this.key, this.options.ttlMs, 'NX')
    else if (this.options.slidingTtlMs > 0) pipeline.pexpire(this.key, this.options.slidingTtlMs)
  }

  /** Closes the command connection, if one was made. */
  protected async onClose(): Promise<void> {
    await this.#redis?.close()
  }
}

export function checkStreamName(name: unknown, option: string): string {
  const checked = checkString(name, option)
  if (!kStreamNamePattern.test(checked)) {
    throw new InvalidArgumentError(
      `${option}: not a valid name ${JSON.stringify(checked)} (1–512 characters, none of space, NUL, * ? [ ])`,
      {
        data: { option },
      },
    )
  }
  return checked
}

function checkEvent(event: NewEvent, path: string): EntryFields {
  const name = checkString(event.name, `${path}name`, { nonEmpty: true })
  if (typeof event.payload !== 'string' && !(event.payload instanceof Uint8Array)) {
    throw new InvalidArgumentError(`${path}payload must be a Uint8Array or a string`, {
      data: { option: `${path}payload` },
    })
  }
  const topic = event.topic === undefined ? undefined : checkString(event.topic, `${path}topic`)
  return { name, payload: event.payload, topic }
}
