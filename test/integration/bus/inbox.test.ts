/**
 * The bus's inbox connection (transports/redis/bus/inbox.ts) on its own: `close()` is memoised, so a
 * second call resolves only once the connection is gone, which is observed from outside: the process's
 * sockets, the resource tracker and the server's CLIENT LIST.
 */
import { randomUUID } from 'node:crypto'

import { describe, expect, it } from 'vitest'

import { ClosedError } from '../../../runtime/errors.js'
import { liveResources } from '../../../runtime/resource-tracker.js'
import { InboxConnection } from '../../../transports/redis/bus/inbox.js'
import { countHandles } from '../../helpers/leaks.js'
import { testPrefix, useRawRedis } from '../../helpers/redis.js'

const raw = useRawRedis()

function sockets(): number {
  return countHandles().get('TCPSocketWrap') ?? 0
}

/** The server's clients named `name`. */
async function clientsNamed(name: string): Promise<number> {
  const list = (await raw.client('LIST')) as string
  return list.split('\n').filter((line) => line.includes(` name=${name} `)).length
}

describe('InboxConnection', () => {
  it('two concurrent close() calls: neither resolves before the connection is gone', async () => {
    const name = `inbox-${randomUUID().slice(0, 8)}`
    const before = sockets()
    const inboxes = new InboxConnection(raw, name)
    const received: string[] = []
    const channel = `${testPrefix()}reply`
    await inboxes.subscribe(channel, (message) => received.push(message.toString('utf8')))
    expect(await raw.publish(channel, 'hello')).toBe(1)
    expect(await clientsNamed(`${name}:inbox`)).toBe(1)
    expect(sockets()).toBe(before + 1)

    const first = inboxes.close()
    const second = inboxes.close()
    await second
    // Right after the second call resolved: the socket is closed, untracked, and the server forgot it.
    expect(sockets()).toBe(before)
    expect(liveResources().map((r) => r.label)).not.toContain(`${name}:inbox`)
    expect(await clientsNamed(`${name}:inbox`)).toBe(0)
    await first
    expect(received).toEqual(['hello'])
    expect(await raw.publish(channel, 'late')).toBe(0)
  })

  it('refuses subscribe() once closed, without opening the connection again', async () => {
    const name = `inbox-${randomUUID().slice(0, 8)}`
    const inboxes = new InboxConnection(raw, name)
    await inboxes.close()
    await expect(inboxes.subscribe(`${testPrefix()}reply`, () => undefined)).rejects.toBeInstanceOf(ClosedError)
    expect(await clientsNamed(`${name}:inbox`)).toBe(0)
  })
})
