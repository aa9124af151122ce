/**
 * The metrics plumbing the whole library shares. Options take a prom-client `Registry` as `metrics`;
 * each part defines its metrics in one file of its own (`actors/<feature>/metrics.ts`,
 * `runtime/runtime-metrics.ts`) with the helpers here, which
 *
 * - create a part's metrics once per registry (`perRegistry`): a second queue, map or runtime on the
 *   same registry shares them, and counts from both add up;
 * - always name the registry (`registers: [registry]`): prom-client's default registry is never
 *   touched, so a program that gives no `metrics` has nothing registered anywhere;
 * - keep what is read at scrape time (`ScrapeSources`, `coalesce`): live objects add a reader and
 *   remove it when they close, and one scrape reads each source once however many metrics it feeds.
 *
 * Why prom-client is imported here, in the kernel: every feature and the runtime need the same helpers,
 * and runtime/ is the one layer all of them may import. The layering rule keeps I/O clients (ioredis,
 * pg) out of runtime/; prom-client does no I/O (it computes text for whoever serves `/metrics`), and a
 * structural stand-in for its `Registry` and metric classes would copy their types for nothing.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

import { InvalidArgumentError } from './errors.js'

/** What `metrics` options take: a prom-client `Registry`. */
export type MetricsRegistry = Registry

/** Seconds, for durations from a millisecond to an hour. */
export const DURATION_BUCKETS: readonly number[] = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
]

/** Throws `PULSE_ERR_INVALID_ARG` naming `name` unless `value` looks like a prom-client `Registry`. */
export function checkRegistry(value: unknown, name = 'options.metrics'): Registry {
  const ok =
    typeof value === 'object' &&
    value !== null &&
    ['registerMetric', 'getSingleMetric', 'metrics'].every(
      (method) => typeof (value as Record<string, unknown>)[method] === 'function',
    )
  if (!ok) throw new InvalidArgumentError(`${name} must be a prom-client Registry`, { data: { option: name } })
  return value as Registry
}

const kPerRegistry = new WeakMap<Registry, Map<string, unknown>>()

/** `build(registry)` once per registry and `key`: later calls with the same pair return the first result. */
export function perRegistry<T>(registry: Registry, key: string, build: (registry: Registry) => T): T {
  let built = kPerRegistry.get(registry)
  if (built === undefined) {
    built = new Map()
    kPerRegistry.set(registry, built)
  }
  if (built.has(key)) return built.get(key) as T
  const value = build(registry)
  built.set(key, value)
  return value
}

/** What scrapes read: sources added by live objects, removed (the returned function) when they close. */
export class ScrapeSources<T> implements Iterable<T> {
  readonly #items = new Set<T>()

  add(source: T): () => void {
    this.#items.add(source)
    return () => void this.#items.delete(source)
  }

  get size(): number {
    return this.#items.size
  }

  [Symbol.iterator](): Iterator<T> {
    return this.#items.values()
  }
}

/** `read`, shared by the callers that come while one call is in flight (the metrics of one scrape). */
export function coalesce<T>(read: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined
  return () => {
    inFlight ??= read().finally(() => (inFlight = undefined))
    return inFlight
  }
}

interface MetricSpec<L extends string, M> {
  readonly name: string
  readonly help: string
  readonly labelNames?: readonly L[]
  /** Runs at each scrape of the metric, before its values are read. */
  readonly collect?: (this: M) => void | Promise<void>
}

export function counter<L extends string = never>(registry: Registry, spec: MetricSpec<L, Counter<L>>): Counter<L> {
  return new Counter<L>({ ...spec, labelNames: spec.labelNames ?? [], registers: [registry] })
}

export function gauge<L extends string = never>(registry: Registry, spec: MetricSpec<L, Gauge<L>>): Gauge<L> {
  return new Gauge<L>({ ...spec, labelNames: spec.labelNames ?? [], registers: [registry] })
}

export function histogram<L extends string = never>(
  registry: Registry,
  spec: MetricSpec<L, Histogram<L>> & { readonly buckets?: readonly number[] },
): Histogram<L> {
  return new Histogram<L>({
    ...spec,
    labelNames: spec.labelNames ?? [],
    buckets: [...(spec.buckets ?? DURATION_BUCKETS)],
    registers: [registry],
  })
}

const kChildren = new WeakMap<object, Map<string, unknown>>()

/**
 * The child of `metric` for one label value, kept: prom-client hashes the label object on every
 * `inc({ name })`, which a per-job hot path should not pay.
 */
export function childOf<C>(metric: { labels(...values: string[]): C }, value: string): C {
  let children = kChildren.get(metric) as Map<string, C> | undefined
  if (children === undefined) kChildren.set(metric, (children = new Map<string, C>()))
  let child = children.get(value)
  if (child === undefined) children.set(value, (child = metric.labels(value)))
  return child
}
