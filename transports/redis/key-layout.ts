/**
 * Key layouts (docs/redis-layout.md, "Redis Cluster"):
 *
 * - `compat`: the keys of goa.design/pulse v1.6.5, byte for byte; a map's content and its updates
 *   channel, or a pool's maps and streams, hash to different slots, so a Redis Cluster refuses the
 *   scripts that touch several of them (CROSSSLOT). One Redis server only; Go peers share it.
 * - `cluster`: the same keys with the object's name in a hash tag (`map:{orders}:content`,
 *   `pulse:stream:{orders}`), so each map's, stream's or pool's keys share one slot and different
 *   objects spread over the cluster's masters. A name that already holds a hash tag (`{tenant-1}:orders`)
 *   is used as it is, which lets a user put several objects in one slot on purpose.
 *
 * The default is `cluster` on a cluster client and `compat` otherwise; `compat` on a cluster is refused
 * when the object is made, never found as a CROSSSLOT at run time.
 */
import { InvalidArgumentError } from '../../runtime/errors.js'

export type KeyLayout = 'compat' | 'cluster'

export const kKeyLayouts: readonly KeyLayout[] = ['compat', 'cluster']

/** Whether `name` holds a Redis hash tag: a `{`, later a `}`, with at least one character between. */
export function hasHashTag(name: string): boolean {
  const open = name.indexOf('{')
  if (open < 0) return false
  const close = name.indexOf('}', open + 1)
  return close > open + 1
}

/** The part of a key that names the object: `name` in compat, `{name}` in cluster unless it holds a tag. */
export function slotName(name: string, layout: KeyLayout): string {
  return layout === 'compat' || hasHashTag(name) ? name : `{${name}}`
}

/**
 * The layout an object uses: the option when given (checked), else the default for the client. Throws
 * `PULSE_ERR_INVALID_ARG` for an unknown layout and for `compat` on a cluster.
 */
export function resolveKeyLayout(option: unknown, cluster: boolean, where = 'options.keyLayout'): KeyLayout {
  if (option === undefined) return cluster ? 'cluster' : 'compat'
  if (option !== 'compat' && option !== 'cluster') {
    throw new InvalidArgumentError(`${where} must be 'compat' or 'cluster'`, { data: { option: where } })
  }
  if (option === 'compat' && cluster) {
    throw new InvalidArgumentError(
      `${where} 'compat' cannot run on a Redis Cluster: its keys of one object hash to several slots (CROSSSLOT); use 'cluster'`,
      { data: { option: where } },
    )
  }
  return option
}
