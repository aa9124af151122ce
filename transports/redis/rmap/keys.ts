/**
 * The Redis layout of a replicated map, shared with goa.design/pulse v1.6.5 (docs/redis-layout.md,
 * "Maps"):
 *
 * - `map:<name>:content` — a hash: the user fields plus two reserved ones, `=rev` (a counter every
 *   mutation bumps with HINCRBY) and `=kind` (`set | del | reset | destroy`, the last mutation).
 * - `map:<name>:updates` — the pub/sub channel every mutation publishes one frame on (`frames.ts`).
 *
 * User keys cannot contain `=`, so the reserved fields never collide with them. In the `cluster` layout
 * the name is in a hash tag (`map:{<name>}:content`, key-layout.ts), so both share one slot.
 */
import { type KeyLayout, slotName } from '../key-layout.js'

/** The revision field of the content hash. */
export const kRevField = '=rev'
/** The field of the content hash naming the last mutation. */
export const kKindField = '=kind'

/** What `=kind` holds: the last mutation of the hash. */
export type StoredKind = 'set' | 'del' | 'reset' | 'destroy'

export function contentKey(name: string, layout: KeyLayout = 'compat'): string {
  return `map:${slotName(name, layout)}:content`
}

export function updatesChannel(name: string, layout: KeyLayout = 'compat'): string {
  return `map:${slotName(name, layout)}:updates`
}
