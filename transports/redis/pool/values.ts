/**
 * The text values of the pool's maps (`keys.ts`), as goa.design/pulse v1.6.5 writes and reads them
 * (docs/redis-layout.md, "Pools"):
 *
 * | map | value | here |
 * |---|---|---|
 * | keep-alives, cleanup locks | unix nanos, decimal (`strconv.FormatInt(time.Now().UnixNano(), 10)`) | `formatUnixNanos`, `parseUnixNanos`, `isWithinHorizon` |
 * | `P:workers` | created-at unix nanos, or `-` while leaving | `parseWorkerEntry` |
 * | `P:pending-jobs` | pending-until unix nanos, compared by the Lua claim as digit strings | `pendingGuardState` |
 * | `P:jobs` | JSON array of job keys (Redis cjson: `/` as `\/`); legacy comma lists | `parseJobKeyList` |
 * | `P:tickers` | `<next tick, unix µs>\|<period, Go duration text>` | `formatTickerEntry`, `parseTickerEntry`, `nextTickEntry` |
 *
 * `parse*` functions take values read from Redis, which other processes wrote: they return `undefined`
 * for a malformed value (the reference skips or logs those), never throw.
 */
import { InvalidArgumentError } from '../../../runtime/errors.js'

const kInt64Min = -(1n << 63n)
const kInt64Max = (1n << 63n) - 1n
const kGoInt = /^[+-]?\d+$/

// ---------------------------------------------------------------------------------------------------
// Unix nanoseconds

export function formatUnixNanos(ns: bigint): string {
  return ns.toString()
}

/** Go's `strconv.ParseInt(text, 10, 64)`: an optional sign and decimal digits within int64. */
export function parseUnixNanos(text: string): bigint | undefined {
  if (!kGoInt.test(text)) return undefined
  const value = BigInt(text)
  return value < kInt64Min || value > kInt64Max ? undefined : value
}

/** Milliseconds since the epoch (`Date.now()`, or a fractional `performance` reading) as unix nanos. */
export function msToUnixNanos(ms: number): bigint {
  const whole = Math.floor(ms)
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1_000_000))
}

/** Unix nanos as milliseconds since the epoch (fractional below the millisecond). */
export function unixNanosToMs(ns: bigint): number {
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1_000_000
}

/**
 * Whether a timestamp value (keep-alive, cleanup lock) is within `horizonMs` of `nowNs`: the
 * reference's `isWithinTTL`. A malformed value is not (it counts as stale).
 */
export function isWithinHorizon(text: string | undefined, nowNs: bigint, horizonMs: number): boolean {
  if (text === undefined) return false
  const ts = parseUnixNanos(text)
  return ts !== undefined && nowNs - ts <= BigInt(horizonMs) * 1_000_000n
}

// ---------------------------------------------------------------------------------------------------
// P:workers

export type WorkerEntry = { readonly removing: true } | { readonly removing: false; readonly createdAtNs: bigint }

/** A `P:workers` value: leaving (`-`), or its creation time; `undefined` when unreadable (skip it). */
export function parseWorkerEntry(text: string): WorkerEntry | undefined {
  if (text === '-') return { removing: true }
  const createdAtNs = parseUnixNanos(text)
  return createdAtNs === undefined ? undefined : { removing: false, createdAtNs }
}

// ---------------------------------------------------------------------------------------------------
// P:pending-jobs

/**
 * What the dispatch-claim script (`luaClaimDispatch`) makes of a guard at `nowNs`: `malformed` unless
 * all digits, `active` when pending-until ≥ now compared as digit strings (length first, then
 * lexicographically — Lua numbers are doubles, which cannot hold 19 digits), else `stale`. Sweeps use
 * this so they agree with the script.
 */
export function pendingGuardState(text: string, nowNs: bigint): 'active' | 'stale' | 'malformed' {
  if (!/^\d+$/.test(text)) return 'malformed'
  const now = nowNs.toString()
  if (text.length !== now.length) return text.length > now.length ? 'active' : 'stale'
  return text >= now ? 'active' : 'stale'
}

// ---------------------------------------------------------------------------------------------------
// P:jobs

/**
 * The job keys of a `P:jobs` value: a JSON array of strings (written by the rmap list scripts), else a
 * legacy comma-separated list (empty items skipped), as rmap's `getValues` reads them. Never throws.
 */
export function parseJobKeyList(text: string): string[] {
  const trimmed = text.trim()
  // Redis' cjson encodes an empty Lua table as an object.
  if (trimmed === '{}') return []
  if (trimmed.startsWith('[')) {
    try {
      const decoded: unknown = JSON.parse(trimmed)
      if (Array.isArray(decoded))
        return decoded.map((item: unknown) => (typeof item === 'string' ? item : JSON.stringify(item)))
    } catch {
      // not JSON: a legacy value that happens to start with '['
    }
  }
  return text.split(',').filter((item) => item !== '')
}

// ---------------------------------------------------------------------------------------------------
// Go durations (time.Duration's String and ParseDuration)

const kNanosPerUnit: Readonly<Record<string, bigint>> = Object.freeze({
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 MICRO SIGN
  μs: 1_000n, // U+03BC GREEK SMALL LETTER MU
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
})

/** The digits of `v / 10^prec`'s fraction, without trailing zeros, and the integer part (Go's `fmtFrac`). */
function fraction(v: bigint, prec: number): [string, bigint] {
  let digits = ''
  let printing = false
  for (let i = 0; i < prec; i++) {
    const digit = v % 10n
    printing ||= digit !== 0n
    if (printing) digits = `${digit}${digits}`
    v /= 10n
  }
  return [digits === '' ? '' : `.${digits}`, v]
}

/** Go's `time.Duration(ns).String()`: `0s`, `1.5µs`, `10ms`, `1.5s`, `1m0s`, `2h3m4.005s`. */
export function formatGoDuration(ns: bigint): string {
  if (ns < kInt64Min || ns > kInt64Max) {
    throw new InvalidArgumentError(`a Go duration must fit a signed 64-bit integer of nanoseconds (got ${ns}n)`, {
      data: { option: 'ns' },
    })
  }
  const sign = ns < 0n ? '-' : ''
  const u = ns < 0n ? -ns : ns
  if (u === 0n) return '0s'
  if (u < 1_000n) return `${sign}${u}ns`
  if (u < 1_000_000_000n) {
    // Below a second: the largest of µs and ms that is not above it, with a fraction.
    const [frac, int] = fraction(u, u < 1_000_000n ? 3 : 6)
    return `${sign}${int}${frac}${u < 1_000_000n ? 'µs' : 'ms'}`
  }
  const [frac, seconds] = fraction(u, 9)
  let text = `${seconds % 60n}${frac}s`
  const minutes = seconds / 60n
  if (minutes > 0n) {
    text = `${minutes % 60n}m${text}`
    const hours = minutes / 60n
    if (hours > 0n) text = `${hours}h${text}`
  }
  return `${sign}${text}`
}

const kComponent = /^(\d*)(?:\.(\d*))?([^\d.]+)/u

/**
 * Go's `time.ParseDuration`: a sign, then one or more `<decimal><unit>` (`ns us µs μs ms s m h`), or
 * `0`; `undefined` where Go returns an error (including overflow). Fractions are scaled in doubles,
 * as Go does.
 */
export function parseGoDuration(text: string): bigint | undefined {
  let rest = text
  let negative = false
  if (rest.startsWith('-') || rest.startsWith('+')) {
    negative = rest.startsWith('-')
    rest = rest.slice(1)
  }
  if (rest === '0') return 0n
  if (rest === '') return undefined
  let total = 0n
  while (rest !== '') {
    const match = kComponent.exec(rest)
    if (match === null) return undefined
    const [whole, intDigits = '', fracDigits = '', unitText = ''] = match
    if (intDigits === '' && fracDigits === '') return undefined
    const unit = kNanosPerUnit[unitText]
    if (unit === undefined) return undefined
    let value = BigInt(intDigits === '' ? '0' : intDigits) * unit
    if (fracDigits !== '') {
      // Go keeps at most the digits that fit an int64 and scales them in float64.
      const kept = fracDigits.slice(0, 18)
      value += BigInt(Math.trunc(Number(kept) * (Number(unit) / 10 ** kept.length)))
    }
    total += value
    if (total > kInt64Max + (negative ? 1n : 0n)) return undefined
    rest = rest.slice(whole.length)
  }
  return negative ? -total : total
}

// ---------------------------------------------------------------------------------------------------
// P:tickers

export interface TickerEntry {
  /** When the next tick is due, unix microseconds. */
  readonly nextAtUs: bigint
  /** The period, nanoseconds (a Go `time.Duration`). */
  readonly periodNs: bigint
}

export function formatTickerEntry(entry: TickerEntry): string {
  return `${entry.nextAtUs}|${formatGoDuration(entry.periodNs)}`
}

/** A `P:tickers` value; `undefined` unless `<int64>|<Go duration > 0>`. */
export function parseTickerEntry(text: string): TickerEntry | undefined {
  const bar = text.indexOf('|')
  if (bar === -1) return undefined
  const nextAtUs = parseUnixNanos(text.slice(0, bar))
  const periodNs = parseGoDuration(text.slice(bar + 1))
  if (nextAtUs === undefined || periodNs === undefined || periodNs <= 0n) return undefined
  return { nextAtUs, periodNs }
}

/**
 * The entry the winner of a tick writes (`TestAndSet(current → next)`): the due time moved one period
 * on, then more until it is no longer before `nowUs` — missed ticks are skipped, not replayed. As in
 * the reference, the arithmetic is in nanoseconds and the result truncated to microseconds.
 */
export function nextTickEntry(entry: TickerEntry, nowUs: bigint): TickerEntry {
  const nowNs = nowUs * 1_000n
  let nextNs = entry.nextAtUs * 1_000n + entry.periodNs
  if (nextNs < nowNs) nextNs += ((nowNs - nextNs + entry.periodNs - 1n) / entry.periodNs) * entry.periodNs
  const us = nextNs / 1_000n
  // Floor toward -∞ like Go's UnixMicro (BigInt division truncates toward zero).
  return { nextAtUs: nextNs < 0n && nextNs % 1_000n !== 0n ? us - 1n : us, periodNs: entry.periodNs }
}
