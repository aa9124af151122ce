/** Streams and sinks on Redis: key layout, entry encoding, the idle-check lease (research §2.1). */
export { keepAliveMapName, kStreamNamePattern, sinksMapName, staleLeaseKey, streamKey, streamNameOf } from './keys.js'
export { compareIds, decodeEntry, entryArgs, entryTimeMs, idBeforeMs, isEntryId } from './entry.js'
export type { EntryFields, StreamEntry } from './entry.js'
export { kAcquireLease } from './lease.js'
