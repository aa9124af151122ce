// `pulse streams info` / `pulse streams tail` as the built binary, against streams and sinks made here
// with actors/streaming on the run's Redis.
import { afterEach, describe, expect, it } from 'vitest'

import { type SinkEvent, Stream } from '../../../actors/streaming/index.js'
import { pulseJson, runPulse, spawnPulse } from '../../helpers/cli.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { Opened, take } from '../streaming/helpers.js'

const raw = useRawRedis()
let opened = new Opened()
afterEach(async () => {
  await opened.close(raw)
  opened = new Opened()
})

const env = () => ({ env: { REDIS_URL: redisUrl() } })

async function streamWithEvents(label: string, count: number): Promise<{ stream: Stream; ids: string[] }> {
  const stream = opened.add(new Stream(redisUrl(), opened.name(label)))
  const ids = await stream.addMany(
    Array.from({ length: count }, (_, i) => ({
      name: `e${i}`,
      payload: `{"n":${i}}`,
      topic: i === 0 ? 't' : undefined,
    })),
  )
  return { stream, ids }
}

describe('pulse streams info', () => {
  it('prints length, first and last ids, and the sinks with pending counts and consumers', async () => {
    const { stream, ids } = await streamWithEvents('info', 3)
    const sink = opened.add(await stream.newSink(opened.name('k'), { start: 'oldest', blockMs: 100 }))
    const got = await take(sink.subscribe(), 3)
    await sink.ack(got[0] as SinkEvent)
    await sink.flush()

    const info = await pulseJson<Record<string, unknown>>(['streams', 'info', stream.name], env())
    expect(info).toEqual({
      name: stream.name,
      length: 3,
      firstId: ids[0],
      lastId: ids[2],
      sinks: [
        {
          name: sink.name,
          pending: 2,
          lastDeliveredId: ids[2],
          lag: 0,
          consumers: [{ name: sink.consumer, pending: 2, idleMs: expect.any(Number) as number }],
        },
      ],
    })
    const human = await runPulse(['streams', 'info', stream.name], env())
    expect(human.code).toBe(0)
    expect(human.stdout).toContain(ids[2])
    expect(human.stdout).toContain(sink.name)
    expect(human.stdout).toContain(`${sink.consumer}: 2 pending`)
  })

  it('an unknown stream does not exist: exit 1, one line naming it', async () => {
    const name = opened.name('missing')
    for (const command of ['info', 'tail']) {
      const run = await runPulse(['streams', command, name], env())
      expect(run.code).toBe(1)
      expect(run.stderr).toBe(
        `pulse: PULSE_ERR_INVALID_ARG: stream "${name}" does not exist (no key pulse:stream:${name})\n`,
      )
      expect(run.stdout).toBe('')
    }
  })
})

describe('pulse streams tail', () => {
  it('--from oldest / an id (itself included) prints --count events, as lines or NDJSON, then exits 0', async () => {
    const { stream, ids } = await streamWithEvents('tail', 3)
    const json = await runPulse(['streams', 'tail', stream.name, '--from', 'oldest', '--count', '2', '--json'], env())
    expect(json.code).toBe(0)
    const events = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(events).toEqual([
      {
        id: ids[0],
        stream: stream.name,
        name: 'e0',
        topic: 't',
        createdAt: expect.any(String) as string,
        payload: '{"n":0}',
      },
      {
        id: ids[1],
        stream: stream.name,
        name: 'e1',
        topic: null,
        createdAt: expect.any(String) as string,
        payload: '{"n":1}',
      },
    ])
    const fromId = await runPulse(['streams', 'tail', stream.name, '--from', ids[1] as string, '--count', '2'], env())
    expect(fromId.code).toBe(0)
    expect(fromId.stdout).toBe(`${ids[1]} e1 {"n":1}\n${ids[2]} e2 {"n":2}\n`)
  })

  it('prints events as they arrive and stops cleanly on SIGTERM (exit 0)', async () => {
    const { stream, ids } = await streamWithEvents('live', 1)
    // Starting at the event already there: its line says the reader is reading.
    const tail = spawnPulse(['streams', 'tail', stream.name, '--from', ids[0] as string, '--json'], {
      REDIS_URL: redisUrl(),
    })
    await tail.waitForLines(1)
    const later = await stream.add('later', Buffer.from([0xff, 0x00]))
    const [, line] = await tail.waitForLines(2)
    expect(JSON.parse(line as string)).toMatchObject({ id: later, name: 'later', payloadBase64: '/wA=' })
    tail.child.kill('SIGTERM')
    expect(await tail.exited).toBe(0)
  })

  it('bad --count or --from: exit 1 with the option named, nothing read', async () => {
    const { stream } = await streamWithEvents('bad', 1)
    for (const [flag, value] of [
      ['--count', '0'],
      ['--count', 'many'],
      ['--from', 'yesterday'],
    ] as const) {
      const run = await runPulse(['streams', 'tail', stream.name, flag, value], env())
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(new RegExp(`^pulse: PULSE_ERR_INVALID_ARG: ${flag} must be .*\\n$`))
      expect(run.stdout).toBe('')
    }
  })
})

describe('pulse streams without a reachable Redis', () => {
  it('an unreachable Redis fails within --timeout with one line; no Redis configured says how to give one', async () => {
    for (const command of ['info', 'tail']) {
      const t0 = Date.now()
      const run = await runPulse(['streams', command, 's', '--redis', 'redis://127.0.0.1:1', '--timeout', '2s'])
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(/^pulse: PULSE_ERR_(REDIS_CONNECTION|TIMEOUT): .*redis:\/\/127\.0\.0\.1:1/)
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
      expect(Date.now() - t0).toBeLessThan(8_000)
    }
    const none = await runPulse(['streams', 'info', 's'])
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/^pulse: PULSE_ERR_INVALID_ARG: no Redis: give --redis/)
  })
})
