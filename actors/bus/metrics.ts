/**
 * The bus's metrics, made once per registry (`runtime/metrics.ts`), label `namespace` (a subject's
 * first token: one stream each):
 *
 * | metric                               | type    | what                                                   |
 * |--------------------------------------|---------|--------------------------------------------------------|
 * | `pulse_bus_events_published_total`   | counter | events `put` persisted (inbox replies are not)         |
 * | `pulse_bus_events_delivered_total`   | counter | events yielded to subscriptions, redeliveries included |
 * | `pulse_bus_events_redelivered_total` | counter | of those, deliveries again (manual ack not in time)    |
 * | `pulse_bus_sse_clients`              | gauge   | SSE streams open on the `BusApi`s (no label)           |
 *
 * Everything runs on the bus's own thread; each count is one increment of a labelled child.
 */
import type { Counter, Gauge, Registry } from 'prom-client'

import { counter, gauge, perRegistry } from '../../runtime/metrics.js'

export interface BusMetrics {
  readonly published: Counter<'namespace'>
  readonly delivered: Counter<'namespace'>
  readonly redelivered: Counter<'namespace'>
  readonly sseClients: Gauge
}

function build(registry: Registry): BusMetrics {
  const byNamespace = (name: string, help: string) => counter(registry, { name, help, labelNames: ['namespace'] })
  return {
    published: byNamespace('pulse_bus_events_published_total', 'Events published (persisted) on the bus.'),
    delivered: byNamespace(
      'pulse_bus_events_delivered_total',
      'Events delivered to subscriptions, redeliveries included.',
    ),
    redelivered: byNamespace(
      'pulse_bus_events_redelivered_total',
      'Events delivered again because their manual ack did not come in time.',
    ),
    sseClients: gauge(registry, { name: 'pulse_bus_sse_clients', help: 'SSE streams open on the bus API.' }),
  }
}

/** The bus metrics of `registry` (made on first use). */
export function busMetrics(registry: Registry): BusMetrics {
  return perRegistry(registry, 'pulse_bus', build)
}
