/**
 * The runtime's metrics, per actor (label `actor`), read at scrape time from `rt.stats()` — the
 * counters the actor threads keep anyway, fetched over the control plane only when a scrape asks:
 *
 * | metric                               | type    | what                                                  |
 * |--------------------------------------|---------|-------------------------------------------------------|
 * | `pulse_actor_mailbox_depth`          | gauge   | messages sent to the actor and not handled yet        |
 * | `pulse_actor_messages_total`         | counter | messages handled (since the actor's thread started)   |
 * | `pulse_actor_dropped_messages_total` | counter | messages that came while it was not running           |
 * | `pulse_actor_restarts_total`         | counter | restarts by supervision                               |
 * | `pulse_actor_receive_seconds`        | gauge   | time in `receive`, label `quantile` (0.5, 0.99, 0.999) |
 *
 * Receive time is the thread's sampled histogram (one message in `latencySampleEvery`) as quantiles: a
 * summary's shape, exported as gauges because prom-client computes summaries from its own observations.
 */
import type { Registry } from 'prom-client'

import { coalesce, counter, gauge, perRegistry, ScrapeSources } from './metrics.js'
import type { ActorStats } from './stats.js'

type StatsSource = () => Promise<ActorStats[]>

const kQuantiles = [
  ['0.5', 'p50'],
  ['0.99', 'p99'],
  ['0.999', 'p999'],
] as const

function build(registry: Registry): ScrapeSources<StatsSource> {
  const sources = new ScrapeSources<StatsSource>()
  const snapshot = coalesce(async () => {
    const all = await Promise.all([...sources].map((read) => read().catch((): ActorStats[] => [])))
    return all.flat()
  })
  gauge(registry, {
    name: 'pulse_actor_mailbox_depth',
    help: 'Messages sent to the actor and not handled yet.',
    labelNames: ['actor'],
    async collect() {
      const stats = await snapshot()
      this.reset()
      for (const s of stats) this.set({ actor: s.name }, s.mailboxDepth)
    },
  })
  const total = (name: string, help: string, read: (s: ActorStats) => number) =>
    counter(registry, {
      name,
      help,
      labelNames: ['actor'],
      async collect() {
        const stats = await snapshot()
        this.reset()
        for (const s of stats) this.inc({ actor: s.name }, read(s))
      },
    })
  total('pulse_actor_messages_total', 'Messages the actor handled (since its thread started).', (s) => s.processed)
  total('pulse_actor_dropped_messages_total', 'Messages that came while the actor was not running.', (s) => s.dropped)
  total('pulse_actor_restarts_total', 'Restarts of the actor by supervision.', (s) => s.restarts)
  gauge(registry, {
    name: 'pulse_actor_receive_seconds',
    help: 'Time in receive, sampled (one message in latencySampleEvery), by quantile.',
    labelNames: ['actor', 'quantile'],
    async collect() {
      const stats = await snapshot()
      this.reset()
      for (const s of stats)
        for (const [quantile, key] of kQuantiles) this.set({ actor: s.name, quantile }, s.latencyUs[key] / 1e6)
    },
  })
  return sources
}

/** Exports the actors of `stats` (one runtime's) on `registry`; the returned function stops it. */
export function observeRuntime(registry: Registry, stats: StatsSource): () => void {
  return perRegistry(registry, 'pulse_actor', build).add(stats)
}
