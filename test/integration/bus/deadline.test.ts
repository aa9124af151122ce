/**
 * Puts that wait for confirmations and requests that wait for replies: once answered, they leave no
 * timer and no abort listener behind for the rest of their timeout, and many at once raise no
 * MaxListenersExceededWarning (the chaos scenario's publisher, with confirms in flight, did both).
 */
import { afterEach, expect, it } from 'vitest'

import { Opened, text } from './helpers.js'

let opened = new Opened()
afterEach(async () => {
  await opened.close()
  opened = new Opened()
})

const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length

it('20 confirmed puts and 20 answered requests at once leave no timer behind and warn of no listener leak', async () => {
  const bus = await opened.bus()
  const consumer = bus.get('a.>')
  await consumer.ready
  const acking = (async () => {
    for await (const event of consumer) await event.ack()
  })()
  const responder = bus.reply('rpc.echo', (request) => text(request))
  await responder.ready
  const warnings: string[] = []
  const onWarning = (warning: Error) => warnings.push(warning.name)
  process.on('warning', onWarning)
  try {
    const before = timers()
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => bus.put('a.confirm', `${i}`, { confirm: 1, timeoutMs: 60_000 })),
    )
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => bus.request('rpc.echo', `${i}`, { timeoutMs: 60_000 })),
    )
    expect(replies.map((reply) => reply.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `${i}`))
    await new Promise((resolve) => setImmediate(resolve))
    // Each of the 40 used to keep its 60 s timer (and a listener on the bus's signal) after its answer.
    expect(timers() - before).toBeLessThan(10)
    expect(warnings).not.toContain('MaxListenersExceededWarning')
  } finally {
    process.off('warning', onWarning)
    await responder.close()
    await consumer.return()
    await acking
  }
})
