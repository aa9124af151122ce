/**
 * The Redis layout of streams and sinks, shared with goa.design/pulse v1.6.5 (docs/redis-layout.md,
 * "Streams"):
 *
 * | key / object                          | type          | content                                            |
 * |---------------------------------------|---------------|----------------------------------------------------|
 * | `pulse:stream:<stream>`               | stream        | entries `n` event name, `p` payload, `t` topic      |
 * | group `<sink>` on that stream         | group         | one consumer per sink instance (a ULID)            |
 * | rmap `stream:<stream>:sinks`          | replicated map| sink name → JSON array of its consumers            |
 * | rmap `sink:<sink>:keepalive`          | replicated map| consumer → last keep-alive, unix nanoseconds       |
 * | `sink:<sink>:stalelease`              | string, PX    | who runs the idle-claim check now (its expiry, ms) |
 *
 * The keep-alive map and the lease are keyed by sink name only (not per stream), as in v1.6.5.
 *
 * In the `cluster` layout (key-layout.ts) `<stream>` and `<sink>` are in a hash tag: `pulse:stream:{orders}`,
 * the sinks map `stream:{orders}:sinks` (its content `map:stream:{orders}:sinks:content` and channel in
 * the stream's slot), `sink:{billing}:keepalive`, `sink:{billing}:stalelease`. A name that holds a hash
 * tag is used as it is. The `compat` layout is the table above, byte for byte.
 */
import { type KeyLayout, slotName } from '../key-layout.js'

/** Stream and sink names: 1–512 characters, none of space, NUL, `*`, `?`, `[`, `]`. */
export const kStreamNamePattern = /^[^ \0*?[\]]{1,512}$/

export function streamKey(stream: string, layout: KeyLayout = 'compat'): string {
  return `pulse:stream:${slotName(stream, layout)}`
}

/** The name part of a key made by `streamKey` (in the `cluster` layout, with its hash tag). */
export function streamNameOf(key: string): string {
  return key.startsWith('pulse:stream:') ? key.slice('pulse:stream:'.length) : key
}

/** The replicated map (name, not key) of a stream's sinks and their consumers. */
export function sinksMapName(stream: string, layout: KeyLayout = 'compat'): string {
  return `stream:${slotName(stream, layout)}:sinks`
}

/** The replicated map (name, not key) of a sink's consumer keep-alives. */
export function keepAliveMapName(sink: string, layout: KeyLayout = 'compat'): string {
  return `sink:${slotName(sink, layout)}:keepalive`
}

export function staleLeaseKey(sink: string, layout: KeyLayout = 'compat'): string {
  return `sink:${slotName(sink, layout)}:stalelease`
}
