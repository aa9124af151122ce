/**
 * `pulse-runtime/rmap`: replicated maps on Redis. A map is a Redis hash that every joined process keeps
 * a local copy of; writes are Lua scripts, updates travel on pub/sub, and the layout and frames are
 * those of goa.design/pulse v1.6.5, so Go and Node replicas share maps.
 */
export {
  ClosedError,
  InvalidArgumentError,
  PulseError,
  RedisCommandError,
  RedisConnectionError,
} from '../../runtime/errors.js'
export { ReplicatedMap } from './replicated-map.js'
export type { RedisSource, RemoveValuesResult, ReplicatedMapStats, SetAndWaitOptions } from './replicated-map.js'
export { ChangeFeed } from './change-feed.js'
export type { ChangeFeedOptions, MapEventKind } from './change-feed.js'
export { DEFAULT_REPLICATED_MAP_OPTIONS } from './options.js'
export type { ReplicatedMapLogger, ReplicatedMapOptions, ResolvedReplicatedMapOptions } from './options.js'
export { AttachedReplicatedMap, rmapReplica } from './replica.js'
export type { RmapReplicaOptions } from './replica.js'
export type { ReplicaEvent } from './replica.actor.js'
export { SnapshotReader } from './snapshot.js'
export type { KeyLayout } from '../../transports/redis/key-layout.js'
