/** The events readers and sinks yield: their shape is part of the public API. */
import { entryTimeMs, type StreamEntry } from '../../transports/redis/streaming/entry.js'

export interface StreamEvent {
  /** The Redis stream entry id, `<ms>-<seq>`. */
  readonly id: string
  readonly streamName: string
  readonly eventName: string
  /** `undefined` when the event was added without a topic. */
  readonly topic: string | undefined
  readonly payload: Buffer
  /** The millisecond part of the id. */
  readonly createdAt: Date
}

export interface SinkEvent extends StreamEvent {
  readonly sinkName: string
  /** 1 on the first delivery; each redelivery (idle claim) adds one. */
  readonly deliveryCount: number
}

export function streamEvent(streamName: string, entry: StreamEntry): StreamEvent {
  return {
    id: entry.id,
    streamName,
    eventName: entry.name,
    topic: entry.topic,
    payload: entry.payload,
    createdAt: new Date(entryTimeMs(entry.id)),
  }
}
