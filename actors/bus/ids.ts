/**
 * Event and consumer ids as ella.to/bus makes them: `e_` / `c_` + an xid (github.com/rs/xid) — 12
 * bytes (4 of seconds since the epoch, 3 of machine id, 2 of process id, 3 of a counter) in lowercase
 * base32hex, 20 characters. They sort by creation second and are unique without coordination.
 */
import { randomBytes } from 'node:crypto'

import { InvalidArgumentError } from '../../runtime/errors.js'

const kAlphabet = '0123456789abcdefghijklmnopqrstuv'
const kMachine = randomBytes(3)
const kPid = process.pid & 0xffff
let counter = randomBytes(3).readUIntBE(0, 3)

/** A new xid, 20 characters of `[0-9a-v]`. */
export function xid(): string {
  const bytes = Buffer.allocUnsafe(12)
  bytes.writeUInt32BE(Math.floor(Date.now() / 1000) >>> 0, 0)
  kMachine.copy(bytes, 4)
  bytes.writeUInt16BE(kPid, 7)
  counter = (counter + 1) & 0xffffff
  bytes.writeUIntBE(counter, 9, 3)
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += kAlphabet[(buffer >>> bits) & 31]
    }
    buffer &= (1 << bits) - 1
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31]
  return out
}

/**
 * What an event id may hold: Latin-1 text without ASCII control characters and without a blank at either
 * end, so that the `X-BUS-EVENT-ID` header and an SSE `id:` line carry it as it was given.
 */
export const kWireSafeId = /^[\x21-\x7e\x80-\xff]([\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?$/

/** Checks an event id a caller gives (`put`, `POST /`): a string `kWireSafeId` accepts. */
export function checkEventId(value: unknown, name: string): string {
  if (typeof value !== 'string' || !kWireSafeId.test(value)) {
    const reason = `${name} must be Latin-1 text without ASCII control characters or blanks at either end`
    throw new InvalidArgumentError(reason, { data: { option: name, reason } })
  }
  return value
}

export function newEventId(): string {
  return `e_${xid()}`
}

export function newConsumerId(): string {
  return `c_${xid()}`
}

export function newInbox(): string {
  return `_bus_.${xid()}`
}
