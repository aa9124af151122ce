/**
 * The map's hash as HGETALL returns it: its entries, and the reserved fields `=rev` (the revision) and
 * `=kind` (what the last write did), which are never entries (docs/redis-layout.md, "Maps"); and why a
 * replica (re)loads it, the strongest reason winning when several come during one load.
 */
import { parseRevision } from '../../transports/redis/rmap/frames.js'
import { kKindField, kRevField } from '../../transports/redis/rmap/keys.js'

export interface Snapshot {
  readonly content: Map<string, string>
  readonly rev: number
  readonly kind: string | undefined
}

export function parseSnapshot(raw: Record<string, string>): Snapshot {
  const content = new Map<string, string>()
  let rev = 0
  let kind: string | undefined
  for (const [field, value] of Object.entries(raw)) {
    if (field === kRevField) rev = parseRevision(value) ?? 0
    else if (field === kKindField) kind = value
    else content.set(field, value)
  }
  return { content, rev, kind }
}

export function isReserved(key: string): boolean {
  return key === kRevField || key === kKindField
}

export type LoadReason = 'join' | 'reconnect' | 'regression' | 'overflow' | 'gap'

const kLoadPriority: Readonly<Record<LoadReason, number>> = {
  join: 0,
  overflow: 1,
  gap: 1,
  regression: 2,
  reconnect: 3,
}

export function strongerReason(a: LoadReason | undefined, b: LoadReason): LoadReason {
  return a === undefined || kLoadPriority[b] > kLoadPriority[a] ? b : a
}
