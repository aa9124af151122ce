/**
 * A durable consumer's ack of an event published with `confirm`: the cursor is saved before the
 * confirmation is recorded, so a process killed between the two leaves the event unconfirmed rather
 * than confirmed and due again (the chaos scenario found a confirmed event delivered again to its
 * durable consumer after the server was killed mid-ack). The order is read from Redis's MONITOR.
 */
import { Redis } from 'ioredis'
import { afterEach, expect, it } from 'vitest'

import { redisUrl } from '../../helpers/servers.js'
import { waitFor } from '../../helpers/wait.js'
import { Opened, take } from './helpers.js'

let opened = new Opened()
afterEach(async () => {
  await opened.close()
  opened = new Opened()
})

it('an ack of a durable consumer saves its cursor before it records the confirmation', async () => {
  const bus = await opened.bus()
  const base = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 })
  const monitor = await base.monitor()
  const commands: string[][] = []
  monitor.on('monitor', (_time: string, args: string[]) => commands.push(args))
  try {
    const sub = bus.get('a.>', { ack: 'manual', durable: 'billing' })
    await sub.ready
    const put = bus.put('a.paid', '{"id":7}', { confirm: 1, timeoutMs: 10_000 })
    const [event] = await take(sub, 1)
    await event!.ack()
    await put
    // The writes themselves, inside the scripts: the cursor's HSET and the consumer's HSETNX in the confirmations.
    const write = (command: string, part: string) =>
      commands.findIndex(
        (args) =>
          args[0]?.toUpperCase() === command && args[1]?.startsWith(opened.prefix) === true && args[1].includes(part),
      )
    await waitFor(() => write('HSET', ':durable:billing') >= 0 && write('HSETNX', ':confirm:') >= 0, {
      what: 'the cursor and the confirmation in MONITOR',
    })
    expect(write('HSET', ':durable:billing')).toBeLessThan(write('HSETNX', ':confirm:'))
    await sub.return()
  } finally {
    monitor.disconnect()
    base.disconnect()
  }
})
