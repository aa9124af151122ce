/**
 * `pulse-runtime/streaming`: streams, readers and sinks on Redis streams, laid out like goa.design/pulse
 * v1.6.5 so Go and Node services share streams.
 */
export { ClosedError, InvalidArgumentError, MalformedEntryError, PulseError } from '../../runtime/errors.js'
export { Stream } from './stream.js'
export type { NewEvent } from './stream.js'
export type { SinkConsumerInfo, SinkInfo, StreamInfo } from './stream-info.js'
export { Reader } from './reader.js'
export type { ReaderStats } from './reader.js'
export { Sink } from './sink.js'
export type { SinkStats } from './sink-protocol.js'
export type { SinkEvent, StreamEvent } from './event.js'
export type { Subscription as StreamSubscription } from './fanout.js'
export { DEFAULT_READER_OPTIONS, DEFAULT_SINK_OPTIONS, DEFAULT_STREAM_OPTIONS } from './options.js'
export type {
  AddOptions,
  AddStreamOptions,
  ReaderOptions,
  SinkOptions,
  StartPosition,
  StreamOptions,
} from './options.js'
export type { KeyLayout } from '../../transports/redis/key-layout.js'
