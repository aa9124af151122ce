/**
 * The streams' metrics, made once per registry (`runtime/metrics.ts`), given as a stream's `metrics`
 * (its sinks count there too):
 *
 * | metric                                      | type    | labels       | what                                  |
 * |---------------------------------------------|---------|--------------|---------------------------------------|
 * | `pulse_stream_events_added_total`           | counter | stream       | events `add` / `addMany` wrote        |
 * | `pulse_stream_sink_events_delivered_total`  | counter | stream, sink | events handed to a sink's subscribers |
 * | `pulse_stream_sink_events_redelivered_total`| counter | stream, sink | of those, deliveries after the first  |
 * | `pulse_stream_sink_events_acked_total`      | counter | stream, sink | acks Redis confirmed                  |
 * | `pulse_stream_sink_pending_events`          | gauge   | stream, sink | delivered here, not acked yet         |
 *
 * A sink counts on the caller's thread, from the messages its `sink-reader` actor sends anyway: each
 * batch of events and each ack confirmation. Nothing more crosses the ring for them.
 */
import type { Counter, Gauge, Registry } from 'prom-client'

import { counter, gauge, perRegistry } from '../../runtime/metrics.js'
import type { SinkEvent } from './event.js'

export interface StreamMetrics {
  readonly added: Counter<'stream'>
  readonly delivered: Counter<'stream' | 'sink'>
  readonly redelivered: Counter<'stream' | 'sink'>
  readonly acked: Counter<'stream' | 'sink'>
  readonly pending: Gauge<'stream' | 'sink'>
}

function build(registry: Registry): StreamMetrics {
  const sinkCounter = (name: string, help: string) => counter(registry, { name, help, labelNames: ['stream', 'sink'] })
  return {
    added: counter(registry, {
      name: 'pulse_stream_events_added_total',
      help: 'Events added to the stream.',
      labelNames: ['stream'],
    }),
    delivered: sinkCounter('pulse_stream_sink_events_delivered_total', 'Events delivered to the sink.'),
    redelivered: sinkCounter(
      'pulse_stream_sink_events_redelivered_total',
      'Events delivered to the sink again (claimed after their ack grace period).',
    ),
    acked: sinkCounter('pulse_stream_sink_events_acked_total', 'Acks of the sink that Redis confirmed.'),
    pending: gauge(registry, {
      name: 'pulse_stream_sink_pending_events',
      help: 'Events delivered to the sink in this process and not acked yet.',
      labelNames: ['stream', 'sink'],
    }),
  }
}

/** The stream metrics of `registry` (made on first use). */
export function streamMetrics(registry: Registry): StreamMetrics {
  return perRegistry(registry, 'pulse_stream', build)
}

/**
 * One sink instance's counts. The events it holds (delivered, not acked) are kept by id, so that a
 * redelivery of one it holds is not pending twice; they leave the gauge when acked or at close.
 */
export class SinkCounts {
  readonly #metrics: StreamMetrics
  readonly #sink: string
  /** Per stream, the ids delivered here and not acked yet. */
  readonly #pending = new Map<string, Set<string>>()

  constructor(metrics: StreamMetrics, sink: string) {
    this.#metrics = metrics
    this.#sink = sink
  }

  /** A batch the actor sent: events of one stream. */
  delivered(events: readonly SinkEvent[], noAck: boolean): void {
    const [first] = events
    if (first === undefined) return
    const stream = first.streamName
    const labels = { stream, sink: this.#sink }
    this.#metrics.delivered.inc(labels, events.length)
    let again = 0
    let added = 0
    const held = noAck ? undefined : this.#held(stream)
    for (const event of events) {
      if (event.deliveryCount > 1) again++
      if (held !== undefined && !held.has(event.id)) {
        held.add(event.id)
        added++
      }
    }
    if (again > 0) this.#metrics.redelivered.inc(labels, again)
    if (added > 0) this.#metrics.pending.inc(labels, added)
  }

  /** Acks Redis confirmed: `runs` as the sink sent them (a stream and its ids joined by `\n`). */
  acked(runs: readonly (readonly [stream: string, ids: string])[]): void {
    for (const [stream, joined] of runs) {
      const ids = joined.split('\n')
      const labels = { stream, sink: this.#sink }
      this.#metrics.acked.inc(labels, ids.length)
      const held = this.#pending.get(stream)
      if (held === undefined) continue
      let settled = 0
      for (const id of ids) if (held.delete(id)) settled++
      if (settled > 0) this.#metrics.pending.dec(labels, settled)
    }
  }

  /** The instance closed: its unacked events are handed over, no longer pending here. */
  close(): void {
    for (const [stream, held] of this.#pending)
      if (held.size > 0) this.#metrics.pending.dec({ stream, sink: this.#sink }, held.size)
    this.#pending.clear()
  }

  #held(stream: string): Set<string> {
    let held = this.#pending.get(stream)
    if (held === undefined) {
      held = new Set()
      this.#pending.set(stream, held)
    }
    return held
  }
}
