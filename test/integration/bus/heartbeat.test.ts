/** The bus's heartbeat (the announcement of its subscriptions): an error reply is logged, and it goes on. */
import { afterEach, describe, expect, it } from 'vitest'

import { useRawRedis } from '../../helpers/redis.js'
import { waitFor } from '../../helpers/wait.js'
import { Opened } from './helpers.js'

const raw = useRawRedis()
let opened = new Opened()
afterEach(async () => {
  await opened.close()
  opened = new Opened()
})

interface Warning {
  readonly fields: unknown
  readonly message: unknown
}

describe('Bus heartbeat', () => {
  it('logs an error reply (WRONGTYPE) as a warning, and announces again once the key is fixed', async () => {
    const warnings: Warning[] = []
    const silent = () => {}
    const logger = {
      debug: silent,
      info: silent,
      warn: (fields: unknown, message: unknown) => warnings.push({ fields, message }),
      error: silent,
    }
    const bus = await opened.bus({ heartbeatMs: 50, logger })
    const sub = bus.get('a.>')
    const key = bus.keys.subs('a')
    await sub.ready
    expect(await raw.zcard(key)).toBe(1)

    await raw.multi().del(key).set(key, 'not a sorted set').exec()
    await waitFor(() => warnings.some((w) => w.message === 'pulse bus: heartbeat failed'), {
      what: 'a heartbeat warning',
    })
    const warning = warnings.find((w) => w.message === 'pulse bus: heartbeat failed')
    expect(warning?.fields).toMatchObject({ err: { code: 'PULSE_ERR_REDIS_COMMAND', data: { reply: 'WRONGTYPE' } } })

    await raw.del(key)
    await waitFor(async () => (await raw.zcard(key)) === 1, { what: 'the subscription announced again' })
    await sub.return()
  })
})
