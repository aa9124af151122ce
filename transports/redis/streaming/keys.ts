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
 */

/** Stream and sink names: 1–512 characters, none of space, NUL, `*`, `?`, `[`, `]`. */
export const kStreamNamePattern = /^[^ \0*?[\]]{1,512}$/

export function streamKey(stream: string): string {
  return `pulse:stream:${stream}`
}

/** The stream name of a key made by `streamKey`. */
export function streamNameOf(key: string): string {
  return key.startsWith('pulse:stream:') ? key.slice('pulse:stream:'.length) : key
}

/** The replicated map (name, not key) of a stream's sinks and their consumers. */
export function sinksMapName(stream: string): string {
  return `stream:${stream}:sinks`
}

/** The replicated map (name, not key) of a sink's consumer keep-alives. */
export function keepAliveMapName(sink: string): string {
  return `sink:${sink}:keepalive`
}

export function staleLeaseKey(sink: string): string {
  return `sink:${sink}:stalelease`
}
