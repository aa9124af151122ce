/**
 * The keyed worker pools' metrics, made once per registry (`runtime/metrics.ts`), label `pool`:
 *
 * | metric                         | type    | labels           | what                                          |
 * |--------------------------------|---------|------------------|-----------------------------------------------|
 * | `pulse_pool_dispatches_total`  | counter | pool, outcome    | `dispatchJob` calls: `started` or `failed`    |
 * | `pulse_pool_rebalances_total`  | counter | pool             | times a node re-placed its jobs after the active workers changed |
 * | `pulse_pool_workers`           | gauge   | pool             | workers of the nodes in this process          |
 * | `pulse_pool_jobs`              | gauge   | pool             | jobs running on those workers                 |
 *
 * All of it is counted on the node's own thread (the router in the watchdog actor is not counted);
 * the gauges are read from the nodes at scrape time.
 */
import type { Counter, Registry } from 'prom-client'

import { counter, gauge, perRegistry, ScrapeSources } from '../../runtime/metrics.js'

/** A node as the gauges read it. */
export interface NodeLoad {
  readonly pool: string
  workers(): number
  jobs(): number
}

export interface PoolMetrics {
  readonly dispatches: Counter<'pool' | 'outcome'>
  readonly rebalances: Counter<'pool'>
  readonly nodes: ScrapeSources<NodeLoad>
}

function build(registry: Registry): PoolMetrics {
  const nodes = new ScrapeSources<NodeLoad>()
  const sum = (name: string, help: string, read: (node: NodeLoad) => number) =>
    gauge(registry, {
      name,
      help,
      labelNames: ['pool'],
      collect() {
        this.reset()
        for (const node of nodes) this.inc({ pool: node.pool }, read(node))
      },
    })
  sum('pulse_pool_workers', 'Workers of the pool nodes in this process.', (node) => node.workers())
  sum('pulse_pool_jobs', 'Jobs running on the workers of the pool nodes in this process.', (node) => node.jobs())
  return {
    dispatches: counter(registry, {
      name: 'pulse_pool_dispatches_total',
      help: 'Jobs dispatched, by outcome (started, failed).',
      labelNames: ['pool', 'outcome'],
    }),
    rebalances: counter(registry, {
      name: 'pulse_pool_rebalances_total',
      help: 'Times a node re-placed its jobs after the active workers of the pool changed.',
      labelNames: ['pool'],
    }),
    nodes,
  }
}

/** The pool metrics of `registry` (made on first use). */
export function poolMetrics(registry: Registry): PoolMetrics {
  return perRegistry(registry, 'pulse_pool', build)
}
