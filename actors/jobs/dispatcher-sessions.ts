/**
 * The dispatcher's connections (dispatcher.actor.ts): one for claims, two for acks, one for small
 * completions, each with the session settings of the statements it runs.
 */
import type pg from 'pg'

import {
  type ActorSettings,
  INDEX_PLANS_LOCAL_SQL,
  INDEX_PLANS_SQL,
  openActorDb,
} from '../../transports/postgres/jobs/actor-pool.js'
import type { Queryable } from '../../transports/postgres/jobs/queryable.js'
import type { DispatcherArgs } from './protocol.js'

/** Ack connections planned per execution: completions and failures run at once. */
const kAckConnections = 2
/**
 * Completions of at most this many jobs run on a connection of their own, on the generic plan (see
 * `DISPATCHER_SESSION_SQL`): comparing each row with every token costs less than planning up to here.
 */
const kGenericAckMax = 64
/**
 * The sessions of the dispatcher's connections: one for claims, two for acks (completions and failures
 * run at once), and one for small completions (`smallAck`), so a claim never waits behind an ack.
 *
 * Every statement finds its rows through an index (`INDEX_PLANS_SQL`): the ready ones in claim order
 * through `jobs_ready` (an ordered scan that stops at LIMIT), the acked ones by primary key.
 *
 * The statements are prepared (`preparedQueryable`). The claim runs on its generic plan, planned once
 * per connection: its plan does not depend on the values (the ordered scan under LIMIT), and planning it
 * costs more of the server's CPU than running it at a steady trickle. Acks are planned per execution
 * (`force_custom_plan`): a custom plan sees the acked tokens as a constant array and hashes it, where a
 * generic plan compares each acked row with every token (500 × 500 at a full batch); failures join
 * their `(id, token)` pairs, which a generic plan does in a nested loop that rescans the pairs per row.
 * But planning is about half of a small ack's cost — a steady trickle acks a few jobs at a time — so
 * completions of up to `kGenericAckMax` jobs run on a session of their own on the generic plan: the
 * same primary-key lookups, each row's token compared with at most 64 (`bench/jobs/probes/ack-plan.ts`
 * compares the plans). The claim commits asynchronously (see dispatcher.actor.ts). A test explains
 * each statement's plan as its session runs it.
 *
 * Through a transaction pooler the settings go with each statement instead
 * (`DISPATCHER_TRANSACTION_SQL`), and LISTEN runs on `listenConnection` only: without one, the poll
 * tick is the wake for new jobs.
 */
export const DISPATCHER_SESSION_SQL = {
  claim: `${INDEX_PLANS_SQL}; SET plan_cache_mode = force_generic_plan; SET synchronous_commit = off`,
  ack: `${INDEX_PLANS_SQL}; SET plan_cache_mode = force_custom_plan`,
  smallAck: `${INDEX_PLANS_SQL}; SET plan_cache_mode = force_generic_plan`,
} as const

/**
 * The same settings through a transaction pooler (`transactionPooler`), set by each statement's
 * transaction (transports/postgres/jobs/actor-pool.ts). The statements are unnamed there, so each is
 * planned for its values when it runs (a custom plan), and `plan_cache_mode` has nothing to choose: only
 * the index plans and the claim's asynchronous commit remain.
 */
export const DISPATCHER_TRANSACTION_SQL = {
  claim: `${INDEX_PLANS_LOCAL_SQL}; SET LOCAL synchronous_commit = off`,
  ack: INDEX_PLANS_LOCAL_SQL,
  smallAck: INDEX_PLANS_LOCAL_SQL,
} as const

function dispatcherSettings(session: keyof typeof DISPATCHER_SESSION_SQL): ActorSettings {
  return { session: DISPATCHER_SESSION_SQL[session], transaction: DISPATCHER_TRANSACTION_SQL[session] }
}

/** The dispatcher's connections, by the statements they run. */
export interface DispatcherDbs {
  /** Every pool, to end at stop. */
  readonly pools: readonly pg.Pool[]
  readonly claim: Queryable
  readonly failures: Queryable
  /** Where the completions of `count` jobs run: the generic plan's session up to `kGenericAckMax`. */
  completions(count: number): Queryable
}

export function openDispatcherDbs(args: DispatcherArgs): DispatcherDbs {
  const open = (max: number, session: keyof typeof DISPATCHER_SESSION_SQL) =>
    openActorDb({
      connection: args.connection,
      max,
      applicationName: 'pulse-jobs-dispatcher',
      transactionPooler: args.transactionPooler,
      settings: dispatcherSettings(session),
      prepared: true,
    })
  // One claim statement at a time (the claim states of dispatcher.actor.ts), so one connection.
  const claim = open(1, 'claim')
  const ack = open(kAckConnections, 'ack')
  const smallAck = open(1, 'smallAck')
  return {
    pools: [claim.pool, ack.pool, smallAck.pool],
    claim: claim.db,
    failures: ack.db,
    completions: (count) => (count <= kGenericAckMax ? smallAck.db : ack.db),
  }
}
