/**
 * The rule that lets one XREAD / XREADGROUP read several streams on a Redis Cluster: their keys must be in
 * one hash slot (a cluster refuses a command whose keys span slots). A reader or sink reads the streams
 * of the slot of its first stream; adding a stream of another slot is refused with
 * `PULSE_ERR_INVALID_ARG`, naming the way out (a common hash tag). On one Redis server any set of
 * streams goes.
 */
import { InvalidArgumentError } from '../../runtime/errors.js'
import { keySlot } from '../../transports/redis/cluster-slots.js'
import type { StreamHandle } from './stream-handle.js'

/** Throws unless `stream` may be read with `first` (the first stream of the reader or sink `owner`). */
export function checkSameSlot(owner: string, first: StreamHandle, stream: StreamHandle): void {
  if (!stream.cluster && !first.cluster) return
  const slot = keySlot(first.key)
  const other = keySlot(stream.key)
  if (slot === other) return
  throw new InvalidArgumentError(
    `${owner} reads stream ${JSON.stringify(first.name)} (hash slot ${slot}) and cannot read stream ` +
      `${JSON.stringify(stream.name)} (hash slot ${other}) too: on a Redis Cluster one reader or sink reads ` +
      `streams of one slot. Name the streams with a common hash tag (e.g. "{orders}:eu" and "{orders}:us" ` +
      `share a slot), or read them with one reader or sink each`,
    { data: { option: 'stream' } },
  )
}
