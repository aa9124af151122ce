/**
 * A replica's pub/sub connection (transports/redis/rmap/subscription.ts) on its own: frames arrive,
 * `barrier()` answers on the subscribed connection, and `close()` is memoised, so a second call resolves
 * only once the connection is gone, which is observed from outside: the process's sockets, the resource
 * tracker and the server's subscriber count of the channel.
 */
import { describe, expect, it } from 'vitest'

import { liveResources } from '../../../runtime/resource-tracker.js'
import { MapSubscription } from '../../../transports/redis/rmap/subscription.js'
import { countHandles } from '../../helpers/leaks.js'
import { testPrefix, useRawRedis } from '../../helpers/redis.js'

const raw = useRawRedis()

function sockets(): number {
  return countHandles().get('TCPSocketWrap') ?? 0
}

/** The server's subscribers of `channel`. */
async function subscribers(channel: string): Promise<number> {
  const [, count] = (await raw.pubsub('NUMSUB', channel)) as [string, number]
  return count
}

describe('MapSubscription', () => {
  it('two concurrent close() calls: neither resolves before the connection is gone', async () => {
    const channel = `${testPrefix()}map:m:updates`
    const frames: string[] = []
    const errors: Error[] = []
    const before = sockets()
    const subscription = new MapSubscription(raw, channel, {
      onFrame: (payload) => frames.push(payload.toString('utf8')),
      onDown: () => undefined,
      onUp: () => undefined,
      onError: (error) => errors.push(error),
    })
    await subscription.subscribe()
    expect(await raw.publish(channel, 'f1')).toBe(1)
    await subscription.barrier()
    expect(frames).toEqual(['f1'])
    expect(await subscribers(channel)).toBe(1)
    expect(sockets()).toBe(before + 1)

    const first = subscription.close()
    const second = subscription.close()
    await second
    // Right after the second call resolved: the socket is closed, untracked, and the server forgot it.
    expect(sockets()).toBe(before)
    expect(liveResources().map((r) => r.label)).not.toContain(`rmap subscription ${channel}`)
    expect(await subscribers(channel)).toBe(0)
    await first
    expect(subscription.status).toBe('end')
    expect(errors).toEqual([])
  })
})
