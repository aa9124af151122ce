/**
 * The replicated maps' metrics, made once per registry (`runtime/metrics.ts`), label `map`:
 *
 * | metric                            | type    | what                                                  |
 * |-----------------------------------|---------|-------------------------------------------------------|
 * | `pulse_rmap_writes_total`         | counter | writes this process sent (set, delete, inc, lists, …) |
 * | `pulse_rmap_updates_applied_total`| counter | update frames applied to a local copy                 |
 * | `pulse_rmap_keys`                 | gauge   | keys in the local copy, read at scrape time           |
 *
 * Maps joined with `ReplicatedMap.join` count all three on the caller's thread. A runtime-held replica
 * (`rmapReplica`) counts its writes and keys (read from the shared snapshot) on the caller's thread;
 * the frames its actor applies are not counted.
 */
import type { Counter, Registry } from 'prom-client'

import { counter, gauge, perRegistry, ScrapeSources } from '../../runtime/metrics.js'

type KeysSource = readonly [map: string, size: () => number]

export interface MapMetrics {
  readonly writes: Counter<'map'>
  readonly applied: Counter<'map'>
  /** The local copies whose size `pulse_rmap_keys` reads. */
  readonly copies: ScrapeSources<KeysSource>
}

function build(registry: Registry): MapMetrics {
  const copies = new ScrapeSources<KeysSource>()
  gauge(registry, {
    name: 'pulse_rmap_keys',
    help: 'Keys in the local copy of the map.',
    labelNames: ['map'],
    collect() {
      this.reset()
      for (const [map, size] of copies) this.set({ map }, size())
    },
  })
  return {
    writes: counter(registry, {
      name: 'pulse_rmap_writes_total',
      help: 'Writes to the map sent from this process.',
      labelNames: ['map'],
    }),
    applied: counter(registry, {
      name: 'pulse_rmap_updates_applied_total',
      help: 'Update frames applied to the local copy of the map.',
      labelNames: ['map'],
    }),
    copies,
  }
}

/** The map metrics of `registry` (made on first use). */
export function mapMetrics(registry: Registry): MapMetrics {
  return perRegistry(registry, 'pulse_rmap', build)
}
