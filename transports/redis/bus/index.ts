/** The bus's Redis layout: keys, entry fields, scripts and the inbox pub/sub connection. */
export { BusKeys, DEFAULT_BUS_KEY_PREFIX } from './keys.js'
export {
  type BusEntry,
  type BusEntryFields,
  compareEntryIds,
  decodeBusEntries,
  decodeBusEntry,
  putArgs,
} from './entry.js'
export { busAppend, busConfirm, busCursor, busPut } from './scripts.js'
export { InboxConnection, type InboxListener } from './inbox.js'
