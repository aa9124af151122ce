import { readFileSync } from 'node:fs'
import { MessageChannel } from 'node:worker_threads'

import { describe, expect, it } from 'vitest'

import * as errors from '../../../runtime/errors.js'
import {
  ClosedError,
  coerceError,
  ERROR_CODES,
  fromWire,
  isWireError,
  LeaseLostError,
  ProtocolError,
  PulseError,
  toWire,
  WorkerStartError,
} from '../../../runtime/errors.js'
import { renderErrorTable } from '../../../scripts/error-table.js'

function postAndReceive(value: unknown): Promise<unknown> {
  const { port1, port2 } = new MessageChannel()
  return new Promise((resolve) => {
    port2.once('message', (msg: unknown) => {
      port1.close()
      resolve(msg)
    })
    port1.postMessage(value)
  })
}

describe('PulseError', () => {
  it('has a code from the registry, a name and a cause', () => {
    const cause = new Error('socket closed')
    const err = new LeaseLostError('lease of job 7 lost', { cause, data: { jobId: '7' } })
    expect(err).toBeInstanceOf(PulseError)
    expect(err).toBeInstanceOf(Error)
    expect(err.code).toBe('PULSE_ERR_JOB_LEASE_LOST')
    expect(err.name).toBe('LeaseLostError')
    expect(err.cause).toBe(cause)
    expect(err.data).toEqual({ jobId: '7' })
    expect(String(err)).toBe('LeaseLostError: lease of job 7 lost')
  })

  it('every exported error class carries a registered code matching PULSE_ERR_[A-Z0-9_]+', () => {
    const classes = (Object.values(errors) as unknown[]).filter(
      (v): v is new (message?: string) => PulseError => typeof v === 'function' && v.prototype instanceof PulseError,
    )
    expect(classes.length).toBeGreaterThan(15)
    for (const Class of classes) {
      const err = new Class('x')
      expect(err.code).toMatch(/^PULSE_ERR_[A-Z0-9_]+$/)
      expect(Object.keys(ERROR_CODES)).toContain(err.code)
      expect(err.name).toBe(Class.name)
    }
  })

  it('loses class and code through a bare postMessage, and keeps them through toWire/fromWire', async () => {
    const bare = (await postAndReceive(new ClosedError('closed'))) as Error & { code?: string }
    expect(bare).not.toBeInstanceOf(ClosedError)
    expect(bare.code).toBeUndefined()

    const err = new WorkerStartError('start failed', { cause: new LeaseLostError('gone'), data: { key: 'k1' } })
    const back = fromWire(await postAndReceive(toWire(err)))
    expect(back).toBeInstanceOf(WorkerStartError)
    expect(back).toMatchObject({ code: 'PULSE_ERR_POOL_WORKER_START', message: 'start failed', data: { key: 'k1' } })
    expect(back.stack).toBe(err.stack)
    expect(back.cause).toBeInstanceOf(LeaseLostError)
  })

  it('survives JSON (the HTTP hop) and keeps system codes of foreign errors', () => {
    const foreign = Object.assign(new TypeError('connect refused'), { code: 'ECONNREFUSED' })
    const back = fromWire(JSON.parse(JSON.stringify(toWire(foreign)))) as Error & { code?: string }
    expect(back).not.toBeInstanceOf(PulseError)
    expect(back.name).toBe('TypeError')
    expect(back.code).toBe('ECONNREFUSED')
    expect(back.message).toBe('connect refused')
  })

  it('cuts cause chains that are too long or cyclic', () => {
    const a = new Error('a')
    const b = new Error('b', { cause: a })
    Object.defineProperty(a, 'cause', { value: b })
    let depth = 0
    for (let w: ReturnType<typeof toWire> | undefined = toWire(a); w !== undefined; w = w.cause) depth++
    expect(depth).toBe(9)
  })

  it('turns a malformed record into a ProtocolError instead of throwing', () => {
    for (const bad of [null, 42, 'x', { name: 1, message: 'm' }, { name: 'E', message: 'm', cause: { name: 'E' } }]) {
      expect(isWireError(bad)).toBe(false)
      expect(fromWire(bad)).toBeInstanceOf(ProtocolError)
    }
  })

  it('coerces non-errors', () => {
    expect(coerceError('boom').message).toBe('boom')
    expect(coerceError({ a: 1 }).message).toBe('non-error thrown: {"a":1}')
    const e = new Error('same')
    expect(coerceError(e)).toBe(e)
  })

  it('the README table lists exactly the registry', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
    const table = /<!-- error-codes:start -->\n([\s\S]*?)\n<!-- error-codes:end -->/.exec(readme)?.[1]
    expect(table, 'run `npm run docs:errors` to rewrite the README table').toBe(renderErrorTable())
  })
})
