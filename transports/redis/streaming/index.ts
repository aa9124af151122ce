/** Streams and sinks on Redis: keys, entries, the idle-check lease (docs/redis-layout.md, "Streams"). */
export { keepAliveMapName, kStreamNamePattern, sinksMapName, staleLeaseKey, streamKey, streamNameOf } from './keys.js'
export { compareIds, decodeEntry, entryArgs, entryTimeMs, idBeforeMs, isEntryId } from './entry.js'
export type { EntryFields, StreamEntry } from './entry.js'
export { kAcquireLease } from './lease.js'
