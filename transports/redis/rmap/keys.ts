/**
 * The Redis layout of a replicated map, shared with goa.design/pulse v1.6.5 (docs/redis-layout.md,
 * "Maps"):
 *
 * - `map:<name>:content` — a hash: the user fields plus two reserved ones, `=rev` (a counter every
 *   mutation bumps with HINCRBY) and `=kind` (`set | del | reset | destroy`, the last mutation).
 * - `map:<name>:updates` — the pub/sub channel every mutation publishes one frame on (`frames.ts`).
 *
 * User keys cannot contain `=`, so the reserved fields never collide with them.
 */

/** The revision field of the content hash. */
export const kRevField = '=rev'
/** The field of the content hash naming the last mutation. */
export const kKindField = '=kind'

/** What `=kind` holds: the last mutation of the hash. */
export type StoredKind = 'set' | 'del' | 'reset' | 'destroy'

export function contentKey(name: string): string {
  return `map:${name}:content`
}

export function updatesChannel(name: string): string {
  return `map:${name}:updates`
}
