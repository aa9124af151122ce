/**
 * The lifecycle of a sink's reader (actors/streaming/sink-reader.ts) behind a real `Sink`: a crash of its
 * actor destroys the crashed reader (timers, read loop, connections), so the restarted reader is the only
 * one connected; a close releases every connection of the reader; after its close the reader refuses
 * intake with `ClosedError`, which fails an ask without crashing the actor.
 */
import { afterEach, describe, expect, it } from 'vitest'

import { Stream } from '../../../actors/streaming/index.js'
import type { SinkReaderArgs, SinkReaderMsg } from '../../../actors/streaming/sink-protocol.js'
import { ClosedError } from '../../../runtime/errors.js'
import { Runtime } from '../../../runtime/runtime.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { eventually, Opened, take } from './helpers.js'

const raw = useRawRedis()
let opened: Opened
afterEach(async () => {
  await opened.close(raw)
})

const kReaderModule = new URL('../../../actors/streaming/sink-reader.actor.ts', import.meta.url)
const fast = { blockMs: 100, ackGracePeriodMs: 200, idleCheckMs: 50 } as const

/** The connections named `name` (the reader's ioredis client is `pulse:sink:<sink>`). */
async function connectionsNamed(name: string): Promise<number> {
  const list = (await raw.client('LIST')) as string
  return list.split('\n').filter((line) => line.split(' ').includes(`name=${name}`)).length
}

describe('sink reader lifecycle', () => {
  it('a crashed reader is destroyed: after the restart one reader is connected, and it reads', async () => {
    opened = new Opened()
    const runtime = await Runtime.start()
    try {
      const restarted = new Promise<void>((resolve) => runtime.once('restart', () => resolve()))
      const s = opened.add(new Stream(redisUrl(), opened.name('s')))
      const sink = opened.add(await s.newSink(opened.name('k'), { ...fast, start: 'oldest', runtime }))
      const client = `pulse:sink:${sink.name}`
      const sub = sink.subscribe()
      await s.add('before', '')
      const [before] = await take(sub, 1)
      expect(before?.eventName).toBe('before')
      if (before !== undefined) await sink.ack(before)
      await sink.flush()
      expect(await connectionsNamed(client)).toBe(1)

      // A stream whose key holds a string: joining its group fails with WRONGTYPE, which crashes the actor.
      const clobbered = opened.add(new Stream(redisUrl(), opened.name('wrongtype')))
      await raw.set(clobbered.key, 'not a stream')
      await expect(sink.addStream(clobbered)).rejects.toThrow(/crashed|WRONGTYPE/)
      await restarted

      await s.add('after', '')
      expect((await take(sub, 1))[0]?.eventName).toBe('after')
      await eventually(async () => (await connectionsNamed(client)) === 1, 5_000, 'one reader connected')
      await sink.close()
    } finally {
      await runtime.close()
    }
  })

  it('close releases the reader connections', async () => {
    opened = new Opened()
    const s = opened.add(new Stream(redisUrl(), opened.name('s')))
    const sink = await s.newSink(opened.name('k'), fast)
    const client = `pulse:sink:${sink.name}`
    sink.subscribe() // credits go to the reader: it reads, on its reads connection
    await eventually(async () => (await connectionsNamed(`${client}:reads`)) === 1, 5_000, 'the reads connection')
    expect(await connectionsNamed(client)).toBe(1)
    await Promise.all([sink.close(), sink.close()])
    await eventually(
      async () => (await connectionsNamed(client)) + (await connectionsNamed(`${client}:reads`)) === 0,
      5_000,
      'no connection of the reader',
    )
  })

  it('after its close the reader refuses intake with ClosedError, and the actor does not crash', async () => {
    opened = new Opened()
    const sink = opened.name('k')
    const ttl = { ttlMs: 0, mode: 'sliding' } as const
    const args: SinkReaderArgs = {
      redisUrl: redisUrl(),
      sink,
      consumer: 'c1',
      streams: [{ name: opened.name('s'), start: '$', ttl }],
      ackGracePeriodMs: 200,
      keyLayout: 'compat',
      blockMs: 100,
      maxPolled: 100,
      noAck: false,
      idleCheckMs: 50,
      topic: undefined,
      topicPattern: undefined,
    }
    const runtime = await Runtime.start()
    try {
      const crashes: string[] = []
      runtime.on('crash', ({ name }) => crashes.push(name))
      const ref = await runtime.spawn<SinkReaderMsg, unknown, SinkReaderArgs>(kReaderModule, {
        name: 'reader',
        args,
      })
      await ref.ask({ t: 'close' })
      await ref.ask({ t: 'close' }) // memoised: harmless
      await expect(ref.ask({ t: 'addStream', stream: opened.name('t'), start: '$', ttl })).rejects.toThrow(ClosedError)
      expect(ref.tell({ t: 'credit', n: 10, consumed: 0 })).toBe(true)
      // Still the same actor, answering: the refused tell was dropped, not a crash.
      expect(await ref.ask({ t: 'stats' })).toMatchObject({ delivered: 0 })
      expect(crashes).toEqual([])
      // The close released the connections, before the actor's stop.
      await eventually(async () => (await connectionsNamed(`pulse:sink:${sink}`)) === 0, 5_000, 'no connection')
    } finally {
      await runtime.close()
    }
  })
})
