/**
 * The leak check, run around every test: a test fails when it leaves open a thread, client or other
 * tracked resource of the library, or a timer, socket or child process that node counts as active.
 */
import { afterAll, afterEach, beforeEach, expect } from 'vitest'

import { liveResources } from '../../runtime/resource-tracker.js'

/** Node handle types that mean "something still open"; the rest (fs requests, …) come and go. */
const kWatched = new Set([
  'Timeout',
  'TCPSocketWrap',
  'TCPServerWrap',
  'ProcessWrap',
  'PipeWrap',
  'Immediate',
  'FSEventWrap',
  'UDPWrap',
])
const kSettleMs = 2_000

export function countHandles(): Map<string, number> {
  const counts = new Map<string, number>()
  for (const type of process.getActiveResourcesInfo()) {
    if (kWatched.has(type)) counts.set(type, (counts.get(type) ?? 0) + 1)
  }
  return counts
}

/** What is open now and was not in `before`: handle types with their surplus, and tracked resources. */
export function leaksSince(before: Map<string, number>, trackedBefore: number): string[] {
  const leaks: string[] = []
  for (const [type, n] of countHandles()) {
    const surplus = n - (before.get(type) ?? 0)
    if (surplus > 0) leaks.push(`${surplus} × ${type}`)
  }
  const tracked = liveResources()
  if (tracked.length > trackedBefore) leaks.push(...tracked.slice(trackedBefore).map((r) => `${r.kind} ${r.label}`))
  return leaks
}

/** Waits (bounded) for sockets and the like to finish closing, then returns what is still open. */
export async function settledLeaks(
  before: Map<string, number>,
  trackedBefore: number,
  settleMs = kSettleMs,
): Promise<string[]> {
  const deadline = Date.now() + settleMs
  let leaks = leaksSince(before, trackedBefore)
  while (leaks.length > 0 && Date.now() < deadline) {
    await new Promise<void>((resolve) => setImmediate(resolve))
    await new Promise<void>((resolve) => setTimeout(resolve, 10))
    leaks = leaksSince(before, trackedBefore)
  }
  return leaks
}

let handlesBefore = new Map<string, number>()
let trackedBefore = 0

beforeEach(() => {
  handlesBefore = countHandles()
  trackedBefore = liveResources().length
})

afterEach(async (context) => {
  if (context.task.result?.state === 'fail') return
  const leaks = await settledLeaks(handlesBefore, trackedBefore)
  expect(leaks, 'the test left these open').toEqual([])
})

// Resources a file opens in beforeAll must be closed by its afterAll (this hook runs after the file's own).
const fileHandles = countHandles()
const fileTracked = liveResources().length

afterAll(async () => {
  const leaks = await settledLeaks(fileHandles, fileTracked)
  expect(leaks, 'the test file left these open').toEqual([])
})
