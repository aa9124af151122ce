/**
 * Who is in the pool, computed alike by every node from the pool's maps (PROTOCOL.md, "Members and
 * liveness"): the active workers ordered by creation time (ties by id), the dead ones a cleaner may
 * take, and the owners of a job key.
 */
import { isWithinHorizon, parseJobKeyList, parseWorkerEntry } from '../../transports/redis/pool/values.js'
import { isMemberId } from './names.js'

export interface ActiveWorker {
  readonly id: string
  readonly createdAtNs: bigint
}

export type MapContent = Readonly<Record<string, string>> | ReadonlyMap<string, string>

function entries(content: MapContent): Iterable<[string, string]> {
  return content instanceof Map
    ? (content as ReadonlyMap<string, string>).entries()
    : Object.entries(content as Record<string, string>)
}

function lookup(content: MapContent, key: string): string | undefined {
  return content instanceof Map
    ? (content as ReadonlyMap<string, string>).get(key)
    : (content as Record<string, string>)[key]
}

/**
 * The active workers: an entry of `P:workers` with a creation time (not `-`), no fresh cleanup lock,
 * and a fresh keep-alive; sorted by creation time, then id.
 */
export function activeWorkers(
  workers: MapContent,
  keepAlives: MapContent,
  cleanup: MapContent,
  nowNs: bigint,
  staleAfterMs: number,
): ActiveWorker[] {
  const active: ActiveWorker[] = []
  for (const [id, value] of entries(workers)) {
    if (id.startsWith('=') || !isMemberId(id)) continue
    const entry = parseWorkerEntry(value)
    if (entry === undefined || entry.removing) continue
    if (isWithinHorizon(lookup(cleanup, id), nowNs, staleAfterMs)) continue
    if (!isWithinHorizon(lookup(keepAlives, id), nowNs, staleAfterMs)) continue
    active.push({ id, createdAtNs: entry.createdAtNs })
  }
  return active.sort(byCreation)
}

/** The pool's order of workers: by creation time, then id. */
export function byCreation(a: ActiveWorker, b: ActiveWorker): number {
  return a.createdAtNs < b.createdAtNs ? -1 : a.createdAtNs > b.createdAtNs ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/** The workers of `P:jobs` whose list holds `key`, among `among` (ids). */
export function ownersOf(jobs: MapContent, key: string, among: ReadonlySet<string>): string[] {
  const owners: string[] = []
  for (const [id, value] of entries(jobs)) {
    if (!among.has(id)) continue
    if (parseJobKeyList(value).includes(key)) owners.push(id)
  }
  return owners
}

/** Every job key of `P:jobs` (all workers, active or not), without duplicates. */
export function allJobKeys(jobs: MapContent): string[] {
  const keys = new Set<string>()
  for (const [id, value] of entries(jobs)) {
    if (id.startsWith('=')) continue
    for (const key of parseJobKeyList(value)) keys.add(key)
  }
  return [...keys]
}

/**
 * The workers a sweep may clean: listed in `P:workers` or `P:jobs`, whose keep-alive is not fresh
 * and who hold no fresh cleanup lock (another cleaner is at it).
 */
export function deadWorkers(
  workers: MapContent,
  jobs: MapContent,
  keepAlives: MapContent,
  cleanup: MapContent,
  nowNs: bigint,
  staleAfterMs: number,
): string[] {
  const candidates = new Set<string>()
  for (const [id] of entries(workers)) if (!id.startsWith('=') && isMemberId(id)) candidates.add(id)
  for (const [id] of entries(jobs)) if (!id.startsWith('=') && isMemberId(id)) candidates.add(id)
  return [...candidates].filter(
    (id) =>
      !isWithinHorizon(lookup(keepAlives, id), nowNs, staleAfterMs) &&
      !isWithinHorizon(lookup(cleanup, id), nowNs, staleAfterMs),
  )
}
