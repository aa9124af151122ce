import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { fromWire, ProtocolError, toWire, WorkerStartError } from '../../../runtime/errors.js'
import {
  decodeAck,
  decodeEnvelope,
  decodeJob,
  decodeJobKey,
  decodeNotification,
  encodeAck,
  encodeEnvelope,
  encodeJob,
  encodeJobKey,
  encodeNotification,
  type JobRecord,
  kPoolEvents,
  peekJobKey,
} from '../../../transports/redis/pool/codec.js'

/** An int32 little-endian length prefix followed by the bytes, as Go's `binary.Write` lays it out. */
function field(bytes: string | number[]): number[] {
  const data = typeof bytes === 'string' ? [...Buffer.from(bytes, 'utf8')] : bytes
  const n = data.length
  return [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff, ...data]
}

function i64le(value: bigint): number[] {
  const out: number[] = []
  let v = BigInt.asUintN(64, value)
  for (let i = 0; i < 8; i++) {
    out.push(Number(v & 0xffn))
    v >>= 8n
  }
  return out
}

function expectMalformed(fn: () => unknown, reason: RegExp): void {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error).toMatchObject({ code: 'PULSE_ERR_PROTOCOL' })
    expect((error as Error).message).toMatch(reason)
    return
  }
  throw new Error('expected a ProtocolError')
}

const job: JobRecord = {
  key: 'user:123',
  nodeId: '01J0000000000000000000NODE',
  payload: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
  createdAtNs: 1_700_000_000_123_456_789n,
  requeued: true,
}

describe('event names', () => {
  it('are those of the reference', () => {
    expect(kPoolEvents).toEqual({ init: 'i', startJob: 'j', stopJob: 's', notify: 'n', ack: 'a', dispatchReturn: 'd' })
  })
})

describe('job', () => {
  it('is laid out byte for byte as marshalJob', () => {
    const expected = [
      ...field('user:123'),
      ...field('01J0000000000000000000NODE'),
      ...field([0xde, 0xad, 0xbe, 0xef]),
      ...i64le(1_700_000_000_123_456_789n),
      1,
    ]
    expect([...encodeJob(job)]).toEqual(expected)
    expect(encodeJob(job).toString('hex')).toBe(
      '08000000757365723a313233' +
        '1a000000' +
        Buffer.from('01J0000000000000000000NODE').toString('hex') +
        '04000000deadbeef' +
        '15cd853dfe9c9717' +
        '01',
    )
  })

  it('writes false as 0, an empty payload as a zero length, and a negative time as two’s complement', () => {
    const bytes = encodeJob({ key: 'k', nodeId: '', payload: new Uint8Array(), createdAtNs: -1n, requeued: false })
    expect([...bytes]).toEqual([
      ...field('k'),
      ...field(''),
      ...field([]),
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0,
    ])
    expect(decodeJob(bytes)).toEqual({
      key: 'k',
      nodeId: '',
      payload: Buffer.alloc(0),
      createdAtNs: -1n,
      requeued: false,
    })
  })

  it('counts UTF-8 bytes in lengths', () => {
    const bytes = encodeJob({ ...job, key: 'é/✓' })
    expect([...bytes.subarray(0, 10)]).toEqual(field('é/✓'))
    expect(bytes.readInt32LE(0)).toBe(6)
  })

  it('appends the dispatch id after the reference fields, and only when there is one', () => {
    const plain = encodeJob(job)
    const withId = encodeJob({ ...job, dispatchId: 'd-1' })
    expect(withId.subarray(0, plain.length).equals(plain)).toBe(true)
    expect([...withId.subarray(plain.length)]).toEqual(field('d-1'))
    expect(encodeJob({ ...job, dispatchId: '' }).equals(plain)).toBe(true)
    expect(decodeJob(withId).dispatchId).toBe('d-1')
    expect(decodeJob(plain)).not.toHaveProperty('dispatchId')
  })

  it('round-trips, and re-encodes to the same bytes', () => {
    const record = fc.record({
      key: fc.string({ minLength: 1, unit: 'grapheme' }),
      nodeId: fc.string({ unit: 'grapheme-ascii' }),
      payload: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      createdAtNs: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
      requeued: fc.boolean(),
      dispatchId: fc.option(fc.string({ minLength: 1 }), { nil: undefined }),
    })
    fc.assert(
      fc.property(record, (value) => {
        const { dispatchId, ...rest } = value
        const input: JobRecord = dispatchId === undefined ? rest : { ...rest, dispatchId }
        const bytes = encodeJob(input)
        const decoded = decodeJob(bytes)
        expect(decoded).toEqual(input)
        expect(encodeJob(decoded).equals(bytes)).toBe(true)
        expect(peekJobKey(bytes)).toBe(value.key)
      }),
    )
  })

  it('refuses a time outside int64', () => {
    expect(() => encodeJob({ ...job, createdAtNs: 1n << 63n })).toThrow(/signed 64-bit/)
  })
})

describe('job key, notification, envelope', () => {
  it('are laid out as marshalJobKey, marshalNotification, marshalEnvelope', () => {
    expect([...encodeJobKey('alpha')]).toEqual(field('alpha'))
    expect([...encodeNotification({ key: 'alpha', payload: Buffer.from('hi') })]).toEqual([
      ...field('alpha'),
      ...field('hi'),
    ])
    expect([...encodeEnvelope({ sender: 'W1', payload: Buffer.from([1, 2]) })]).toEqual([
      ...field('W1'),
      ...field([1, 2]),
    ])
  })

  it('round-trip', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.uint8Array({ maxLength: 32 }), (text, bytes) => {
        const payload = Buffer.from(bytes)
        expect(decodeJobKey(encodeJobKey(text))).toBe(text)
        expect(decodeNotification(encodeNotification({ key: text, payload }))).toEqual({ key: text, payload })
        expect(decodeEnvelope(encodeEnvelope({ sender: text, payload }))).toEqual({ sender: text, payload })
        expect(peekJobKey(encodeNotification({ key: text, payload }))).toBe(text)
      }),
    )
  })

  it('nest: a job in an envelope, as a routed start travels', () => {
    const routed = encodeEnvelope({ sender: 'NODE', payload: encodeJob(job) })
    const { sender, payload } = decodeEnvelope(routed)
    expect(sender).toBe('NODE')
    expect(decodeJob(payload)).toEqual(job)
  })

  it('accept a plain Uint8Array view', () => {
    const bytes = encodeJobKey('k')
    const copy = new Uint8Array(bytes.length + 3)
    copy.set(bytes, 3)
    expect(decodeJobKey(copy.subarray(3))).toBe('k')
  })
})

describe('ack', () => {
  it('is laid out as marshalAck when no extension is set', () => {
    expect([...encodeAck({ eventId: '1700000000000-0', error: '' })]).toEqual([
      ...field('1700000000000-0'),
      ...field(''),
    ])
    expect(decodeAck(encodeAck({ eventId: '1-0', error: 'boom' }))).toEqual({ eventId: '1-0', error: 'boom' })
  })

  it('adds the job key alone as the third field', () => {
    const bytes = encodeAck({ eventId: '1-0', error: '', jobKey: 'alpha' })
    expect([...bytes]).toEqual([...field('1-0'), ...field(''), ...field('alpha')])
    expect(decodeAck(bytes)).toEqual({ eventId: '1-0', error: '', jobKey: 'alpha' })
  })

  it('carries the dispatch id and the error record, so the class and code survive', () => {
    const cause = Object.assign(new Error('smtp down'), { code: 'ECONNREFUSED' })
    const error = new WorkerStartError('start failed', { cause, data: { key: 'alpha' } })
    const record = toWire(error)
    const bytes = encodeAck({
      eventId: '2-0',
      error: error.message,
      jobKey: 'alpha',
      dispatchId: 'D1',
      errorRecord: record,
    })
    expect([...bytes]).toEqual([
      ...field('2-0'),
      ...field('start failed'),
      ...field('alpha'),
      ...field('D1'),
      ...field(JSON.stringify(record)),
    ])
    const decoded = decodeAck(bytes)
    expect(decoded).toEqual({
      eventId: '2-0',
      error: 'start failed',
      jobKey: 'alpha',
      dispatchId: 'D1',
      errorRecord: record,
    })
    const rebuilt = fromWire(decoded.errorRecord)
    expect(rebuilt).toBeInstanceOf(WorkerStartError)
    expect(rebuilt).toMatchObject({ code: 'PULSE_ERR_POOL_WORKER_START', data: { key: 'alpha' } })
    expect((rebuilt.cause as { code?: string }).code).toBe('ECONNREFUSED')
  })

  it('writes absent extension fields as empty strings and reads them back as absent', () => {
    const bytes = encodeAck({ eventId: '3-0', error: '', dispatchId: 'D2' })
    expect([...bytes]).toEqual([...field('3-0'), ...field(''), ...field(''), ...field('D2'), ...field('')])
    expect(decodeAck(bytes)).toEqual({ eventId: '3-0', error: '', dispatchId: 'D2' })
  })

  it('round-trips', () => {
    const ack = fc.record(
      {
        eventId: fc.string(),
        error: fc.string(),
        jobKey: fc.string({ minLength: 1 }),
        dispatchId: fc.string({ minLength: 1 }),
        errorRecord: fc.record({ name: fc.string(), message: fc.string(), code: fc.string() }),
      },
      { requiredKeys: ['eventId', 'error'] },
    )
    fc.assert(
      fc.property(ack, (value) => {
        const bytes = encodeAck(value)
        expect(decodeAck(bytes)).toEqual(value)
        expect(encodeAck(decodeAck(bytes)).equals(bytes)).toBe(true)
      }),
    )
  })
})

describe('malformed payloads', () => {
  it('throw ProtocolError saying what is wrong', () => {
    expectMalformed(() => decodeJobKey(Buffer.from([1, 0])), /malformed job key: key: no room for its length/)
    expectMalformed(() => decodeJobKey(Buffer.from([5, 0, 0, 0, 0x61])), /key: 5 bytes announced, 1 left/)
    expectMalformed(() => decodeJobKey(Buffer.from([0xff, 0xff, 0xff, 0xff])), /key: negative length -1/)
    expectMalformed(() => decodeJobKey(Buffer.from([...field('a'), 0])), /1 trailing bytes/)
    expectMalformed(() => decodeJobKey(Buffer.from(field([0xc3, 0x28]))), /key: not UTF-8/)
    const good = encodeJob(job)
    expectMalformed(() => decodeJob(good.subarray(0, good.length - 1)), /requeued: missing/)
    expectMalformed(() => decodeJob(good.subarray(0, good.length - 5)), /createdAt: 8 bytes needed, 4 left/)
    const badBool = Buffer.from(good)
    badBool[badBool.length - 1] = 2
    expectMalformed(() => decodeJob(badBool), /requeued: 2 is not a boolean/)
    expectMalformed(() => decodeJob(Buffer.concat([good, Buffer.from([1, 2])])), /dispatchId: no room for its length/)
    expectMalformed(
      () => decodeAck(Buffer.from([...field('1-0'), ...field(''), ...field('k'), ...field('D'), ...field('{')])),
      /errorRecord: not JSON/,
    )
    expectMalformed(
      () => decodeAck(Buffer.from([...field('1-0'), ...field(''), ...field('k'), ...field('D'), ...field('{"a":1}')])),
      /not an error record/,
    )
    expectMalformed(
      () => decodeAck(Buffer.from([...field('1-0'), ...field(''), ...field('k'), ...field('D')])),
      /errorRecord: no room/,
    )
    expectMalformed(() => decodeEnvelope('text' as unknown as Uint8Array), /envelope: not bytes/)
  })

  it('never throw anything but ProtocolError, whatever the bytes', () => {
    const decoders = [decodeJob, decodeJobKey, decodeNotification, decodeEnvelope, decodeAck, peekJobKey]
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        for (const decode of decoders) {
          try {
            decode(bytes)
          } catch (error) {
            expect(error).toBeInstanceOf(ProtocolError)
          }
        }
      }),
      { numRuns: 2_000 },
    )
  })

  it('survive corrupted valid payloads without a RangeError', () => {
    const valid = encodeAck({
      eventId: '9-0',
      error: 'x',
      jobKey: 'k',
      dispatchId: 'D',
      errorRecord: { name: 'E', message: 'm' },
    })
    const job2 = encodeJob({ ...job, dispatchId: 'D' })
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (at, byte, cut) => {
        for (const [bytes, decode] of [
          [valid, decodeAck],
          [job2, decodeJob],
        ] as const) {
          const corrupt = Buffer.from(bytes)
          corrupt[at % corrupt.length] = byte
          for (const input of [corrupt, corrupt.subarray(0, cut % (corrupt.length + 1))]) {
            try {
              decode(input)
            } catch (error) {
              expect(error).toBeInstanceOf(ProtocolError)
            }
          }
        }
      }),
      { numRuns: 2_000 },
    )
  })
})
