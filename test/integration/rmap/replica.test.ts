/**
 * `rmapReplica`: the runtime integration of replicated maps — one `rmap-replica` actor per map per
 * runtime, reads from its shared-memory snapshot (this thread and another worker thread), writes
 * straight to Redis, notifications relayed from the actor, and detach semantics.
 */
import { once } from 'node:events'

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Redis } from 'ioredis'

import { ReplicatedMap, rmapReplica, SnapshotReader } from '../../../actors/rmap/index.js'
import type { AttachedReplicatedMap } from '../../../actors/rmap/index.js'
import { createSnapshotBuffer, SnapshotState, SnapshotWriter } from '../../../actors/rmap/snapshot.js'
import { withTimeout } from '../../../runtime/lifecycle.js'
import { Runtime } from '../../../runtime/runtime.js'
import { startWorker } from '../../../runtime/thread-boot.js'
import { redisUrl } from '../../helpers/servers.js'
import { dropMap, mapName, plainClient } from './helpers.js'

const readerFixture = new URL('../../fixtures/rmap/snapshot-reader.ts', import.meta.url)

let raw: Redis
let rt: Runtime
let name: string

beforeAll(async () => {
  raw = plainClient(redisUrl())
  await raw.ping()
})

afterAll(async () => {
  await raw.quit()
})

beforeEach(async () => {
  rt = await Runtime.start()
  name = mapName('replica')
})

afterEach(async () => {
  await rt.close()
  await dropMap(raw, name)
})

/** Resolves once `predicate()` holds, re-checking on each notification of `map`. */
async function until(map: AttachedReplicatedMap, predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
  const feed = map.subscribe()
  try {
    const reached = (async () => {
      if (predicate()) return
      for await (const _ of feed) if (predicate()) return
      throw new Error(`detached before ${what}`)
    })()
    await withTimeout(reached, ms, () => new Error(`${what} did not hold within ${ms} ms`))
  } finally {
    await feed.return()
  }
}

describe('rmapReplica', () => {
  it('shares one actor between the attachments of a runtime, and sees the existing content', async () => {
    await raw.hset(`map:${name}:content`, 'before', '1', '=rev', '1')
    const a = await rmapReplica(rt, redisUrl(), name)
    const b = await rmapReplica(rt, redisUrl(), name)
    try {
      expect(a.actor?.name).toBe(`rmap:${name}`)
      expect(b.actor?.name).toBe(a.actor?.name)
      expect(b.snapshotBuffer).toBe(a.snapshotBuffer)
      const actors = (await rt.stats()).filter((s) => s.name.startsWith('rmap:'))
      expect(actors.map((s) => s.name)).toEqual([`rmap:${name}`])
      expect(a.get('before')).toBe('1')
      expect(b.toObject()).toEqual({ before: '1' })
      expect(a.revision).toBe(1)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('makes a write visible to an attached reader, with a notification', async () => {
    const writer = await rmapReplica(rt, redisUrl(), name)
    const reader = await rmapReplica(rt, redisUrl(), name)
    const feed = reader.subscribe()
    try {
      expect(await writer.set('k', 'v1')).toBeUndefined()
      const first = await withTimeout(feed.next(), 10_000, () => new Error('no notification'))
      expect(first).toEqual({ done: false, value: 'change' })
      await until(reader, () => reader.get('k') === 'v1', 'the write to show')
      // setAndWait: visible on return, without waiting for a notification.
      expect(await writer.setAndWait('k', 'v2')).toBe('v1')
      expect(reader.get('k')).toBe('v2')
      expect(await writer.inc('n', 5)).toBe(5)
      expect(await writer.delete('k')).toBe('v2')
      await until(reader, () => reader.get('k') === undefined && reader.get('n') === '5', 'the delete to show')
      // Design B reads the same copy over the ring.
      expect(await reader.getFromActor('n')).toBe('5')
    } finally {
      await feed.return()
      await writer.close()
      await reader.close()
    }
  })

  it('sees the writes of a plain ReplicatedMap (another replica of the map)', async () => {
    const attached = await rmapReplica(rt, redisUrl(), name)
    const other = await ReplicatedMap.join(redisUrl(), name)
    try {
      await other.set('from-other', 'x')
      await until(attached, () => attached.get('from-other') === 'x', 'the other replica’s write to show')
      await attached.set('from-attached', 'y')
      const feed = other.subscribe()
      try {
        const seen = (async () => {
          while (other.get('from-attached') !== 'y') await feed.next()
        })()
        await withTimeout(seen, 10_000, () => new Error('the attached write did not reach the other replica'))
      } finally {
        await feed.return()
      }
    } finally {
      await other.close()
      await attached.close()
    }
  })

  it('close detaches; the last detach stops the replica; a later attach starts it again', async () => {
    const a = await rmapReplica(rt, redisUrl(), name)
    const b = await rmapReplica(rt, redisUrl(), name)
    const feed = a.subscribe()
    await a.close()
    await a.close() // idempotent
    expect(a.closed).toBe(true)
    expect(await feed.next()).toEqual({ done: true, value: undefined })
    expect(() => a.set('x', '1')).toThrow(/after close/)
    // b still works.
    await b.setAndWait('still', 'on')
    expect(b.get('still')).toBe('on')
    const reader = new SnapshotReader(b.snapshotBuffer)
    expect(reader.state).toBe(SnapshotState.Live)
    await b.close()
    expect(reader.state).toBe(SnapshotState.Stopped)
    // Reads keep the last snapshot.
    expect(b.get('still')).toBe('on')
    // While dormant, the map changes behind its back; a new attachment catches up.
    await raw.hset(`map:${name}:content`, 'later', '1')
    const c = await rmapReplica(rt, redisUrl(), name)
    try {
      expect(reader.state).toBe(SnapshotState.Live)
      expect(c.get('later')).toBe('1')
      expect(c.actor?.name).toBe(`rmap:${name}`)
    } finally {
      await c.close()
    }
  })

  it('is read from another worker thread through the snapshot buffer, without Redis', async () => {
    const map = await rmapReplica(rt, redisUrl(), name)
    const worker = startWorker(readerFixture, {}, { typescript: true })
    try {
      await map.setAndWait('shared', 'memory')
      worker.postMessage({ buffer: map.snapshotBuffer, key: 'shared' })
      const [first] = (await once(worker, 'message')) as [{ value: string; revision: number }]
      expect(first.value).toBe('memory')
      expect(first.revision).toBe(map.revision)
    } finally {
      await worker.terminate()
    }
    // A second worker waits for a later write.
    const second = startWorker(readerFixture, {}, { typescript: true })
    try {
      second.postMessage({ buffer: map.snapshotBuffer, key: 'shared', want: 'changed' })
      await map.set('shared', 'changed')
      const [reply] = (await once(second, 'message')) as [{ value: string }]
      expect(reply.value).toBe('changed')
    } finally {
      await second.terminate()
      await map.close()
    }
  })

  it('rejects a second attachment with another Redis URL, and a bad name', async () => {
    const map = await rmapReplica(rt, redisUrl(), name)
    try {
      await expect(rmapReplica(rt, 'redis://127.0.0.1:1', name)).rejects.toMatchObject({
        code: 'PULSE_ERR_INVALID_ARG',
      })
      await expect(rmapReplica(rt, redisUrl(), '')).rejects.toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
    } finally {
      await map.close()
    }
  })
})

describe('the shared snapshot', () => {
  it('double-buffers: a reader sees whole generations while the buffer grows', () => {
    const buffer = createSnapshotBuffer(1 << 24)
    const writer = new SnapshotWriter(buffer)
    const reader = new SnapshotReader(buffer)
    expect(reader.get('a')).toBeUndefined()
    expect(reader.generation).toBe(0)
    const content = new Map<string, string>()
    for (let rev = 1; rev <= 200; rev++) {
      content.set(`k${rev}`, 'v'.repeat(rev * 50)) // grows past the initial 64 KiB
      writer.publish(content, rev)
      if (rev % 7 === 0) {
        expect(reader.revision).toBe(rev)
        expect(reader.content().size).toBe(rev)
        expect(reader.get(`k${rev}`)).toBe('v'.repeat(rev * 50))
      }
    }
    expect(buffer.byteLength).toBeGreaterThan(64 * 1024)
    expect(reader.revision).toBe(200) // decodes the last generation
    const decodes = reader.decodes
    for (let i = 0; i < 1_000; i++) reader.get('k1')
    expect(reader.decodes).toBe(decodes) // nothing changed: no decode
  })

  it('reports an overflow past snapshotMaxBytes and keeps the last snapshot', () => {
    const buffer = createSnapshotBuffer(64 * 1024)
    const writer = new SnapshotWriter(buffer)
    const reader = new SnapshotReader(buffer)
    writer.publish(new Map([['small', '1']]), 1)
    expect(() => writer.publish(new Map([['big', 'x'.repeat(100_000)]]), 2)).toThrow(/snapshotMaxBytes/)
    expect(reader.state).toBe(SnapshotState.Overflow)
    expect(reader.get('small')).toBe('1')
  })
})
