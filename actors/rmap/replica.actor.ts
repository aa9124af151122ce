/**
 * The `rmap-replica` actor: ONE `ReplicatedMap` (its pub/sub subscription and its local copy) inside a
 * runtime thread, shared by every attachment of the process (`rmapReplica`, `replica.ts`).
 *
 * After the join and after each coalesced change it publishes the content into the shared snapshot
 * buffer (design A, `snapshot.ts`), THEN emits `{ kind, rev }` (so a listener that hears of a change
 * reads it). It also answers asks:
 *
 *   { op: 'get', key }               the value (design B: a ring round trip per read)
 *   { op: 'setAndWait', key, value } the write, once the snapshot holds it; replies the previous value
 *   { op: 'stop' }                   the last attachment left: close the map (the actor stays dormant)
 *   { op: 'start' }                  an attachment came back: join again
 */
import { defineActor } from '../../runtime/actor.js'
import type { ActorContext } from '../../runtime/actor.js'
import type { KeyLayout } from '../../transports/redis/key-layout.js'
import type { ChangeFeed, MapEventKind } from './change-feed.js'
import { ReplicatedMap } from './replicated-map.js'
import { SnapshotState, SnapshotWriter } from './snapshot.js'

export interface ReplicaArgs {
  /** A `redis://` URL, or a `redis-cluster://` one for a Redis Cluster. */
  readonly redisUrl: string
  readonly name: string
  readonly snapshot: SharedArrayBuffer
  readonly ttlMs?: number | undefined
  readonly slidingTtlMs?: number | undefined
  /** The map's keys (`ReplicatedMap.join`'s `keyLayout`); undefined: the default for the URL. */
  readonly keyLayout?: KeyLayout | undefined
}

export type ReplicaMsg =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'setAndWait'; readonly key: string; readonly value: string }
  | { readonly op: 'stop' }
  | { readonly op: 'start' }

/** What the actor emits: one per coalesced change, after the snapshot holds it. */
export interface ReplicaEvent {
  readonly kind: MapEventKind
  readonly rev: number
  readonly generation: number
}

interface ReplicaState {
  readonly args: ReplicaArgs
  readonly writer: SnapshotWriter
  map: ReplicatedMap | undefined
}

async function start(state: ReplicaState, ctx: ActorContext): Promise<void> {
  const { args, writer } = state
  const map = await ReplicatedMap.join(args.redisUrl, args.name, {
    ...(args.ttlMs === undefined ? {} : { ttlMs: args.ttlMs }),
    ...(args.slidingTtlMs === undefined ? {} : { slidingTtlMs: args.slidingTtlMs }),
    ...(args.keyLayout === undefined ? {} : { keyLayout: args.keyLayout }),
  })
  state.map = map
  const feed = map.subscribe()
  writer.publish(contentOf(map), map.revision)
  writer.setState(SnapshotState.Live)
  void relay(map, feed, writer, ctx)
}

function contentOf(map: ReplicatedMap): Iterable<readonly [string, string]> {
  return Object.entries(map.toObject())
}

async function relay(map: ReplicatedMap, feed: ChangeFeed, writer: SnapshotWriter, ctx: ActorContext): Promise<void> {
  try {
    for await (const kind of feed) {
      const generation = writer.publish(contentOf(map), map.revision)
      ctx.emit({ kind, rev: map.revision, generation } satisfies ReplicaEvent)
    }
  } catch {
    // The snapshot overflowed (its state says so): readers keep the last one that fitted.
  }
}

async function stop(state: ReplicaState): Promise<void> {
  const map = state.map
  state.map = undefined
  state.writer.setState(SnapshotState.Stopped)
  await map?.close()
}

export default defineActor<ReplicaState, ReplicaMsg, ReplicaArgs>({
  async init(args, ctx) {
    const state: ReplicaState = { args, writer: new SnapshotWriter(args.snapshot), map: undefined }
    await start(state, ctx)
    return state
  },

  async receive(state, msg, ctx) {
    switch (msg.op) {
      case 'get':
        ctx.reply(state.map?.get(msg.key))
        break
      case 'setAndWait': {
        const map = state.map
        if (map === undefined) throw new Error('the replica is stopped')
        const prev = await map.setAndWait(msg.key, msg.value)
        state.writer.publish(contentOf(map), map.revision)
        ctx.reply(prev)
        break
      }
      case 'stop':
        await stop(state)
        break
      case 'start':
        if (state.map === undefined) await start(state, ctx)
        break
    }
    return state
  },

  async stop(state) {
    await stop(state)
  },
})
