/** Reads metrics back from a prom-client registry the way a scrape does (each metric's collect runs). */
import type { Registry } from 'prom-client'

import { waitFor } from '../../helpers/wait.js'

type Labels = Readonly<Partial<Record<string, string | number>>>

function matches(labels: Labels, wanted: Labels): boolean {
  return Object.entries(wanted).every(([key, value]) => String(labels[key]) === String(value))
}

/** The value of `name` with `labels` (a subset of the sample's); `undefined` when no sample matches. */
export async function metricValue(registry: Registry, name: string, labels: Labels = {}): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name)
  if (metric === undefined) throw new Error(`no metric ${name} in the registry`)
  const { values } = await metric.get()
  const found = values.filter((v) => matches(v.labels, labels))
  return found.length === 0 ? undefined : found.reduce((sum, v) => sum + v.value, 0)
}

/** The observation count of histogram `name` with `labels`. */
export async function observations(registry: Registry, name: string, labels: Labels = {}): Promise<number> {
  const metric = registry.getSingleMetric(name)
  if (metric === undefined) throw new Error(`no metric ${name} in the registry`)
  const { values } = await metric.get()
  const counts = values.filter(
    (v) => (v as { metricName?: string }).metricName === `${name}_count` && matches(v.labels, labels),
  )
  return counts.reduce((sum, v) => sum + v.value, 0)
}

/**
 * Reads `name` until `accept` holds (for counts made by a timer of the library, such as the poll's
 * empty claims); rejects after `timeoutMs` with the last value.
 */
export async function metricUntil(
  registry: Registry,
  name: string,
  accept: (value: number) => boolean,
  labels: Labels = {},
  timeoutMs = 10_000,
): Promise<number> {
  let value = 0
  const reached = async () => {
    value = (await metricValue(registry, name, labels)) ?? 0
    return accept(value)
  }
  try {
    await waitFor(reached, { timeoutMs, intervalMs: 20, what: name })
  } catch (error) {
    throw new Error(`${name} stayed at ${value} for ${timeoutMs} ms`, { cause: error })
  }
  return value
}
