/** Request bodies: the byte limit (declared or streamed), JSON parsing, a client gone early, and discarding. */
import { describe, expect, it } from 'vitest'

import { BodyTooLargeError, ClosedError, ProtocolError } from '../../../runtime/errors.js'
import { discardBody, readBody, readJson } from '../../../transports/http/index.js'
import { request } from './messages.js'

describe('readBody', () => {
  it('returns the whole body, chunks joined, up to exactly the limit', async () => {
    const body = await readBody(request({}, ['ab', 'cd', 'e']), 5)
    expect(body.toString()).toBe('abcde')
    expect((await readBody(request(), 0)).length).toBe(0)
  })

  it('refuses a declared Content-Length over the limit before reading anything', async () => {
    const req = request({ 'content-length': '11' }, ['x'], { end: false })
    await expect(readBody(req, 10)).rejects.toMatchObject({
      code: 'PULSE_ERR_HTTP_BODY_TOO_LARGE',
      data: { maxBytes: 10, contentLength: 11 },
    })
    expect(req.readableFlowing).toBeNull() // nothing was read
  })

  it('stops a chunked body as soon as it passes the limit and pauses the request', async () => {
    const req = request({}, ['12345', '67890', 'x'], { end: false })
    const error = await readBody(req, 10).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BodyTooLargeError)
    expect((error as BodyTooLargeError).data).toEqual({ maxBytes: 10 })
    expect(req.isPaused()).toBe(true)
  })

  it('rejects with ClosedError when the client goes away before the end', async () => {
    const req = request({}, ['partial'], { end: false })
    const reading = readBody(req, 100)
    req.destroy()
    await expect(reading).rejects.toBeInstanceOf(ClosedError)
  })
})

describe('readJson', () => {
  it('parses a JSON body, UTF-8 included', async () => {
    expect(await readJson(request({}, ['{"name":"é', '"}']), 100)).toEqual({ name: 'é' })
    expect(await readJson(request({}, ['null']), 100)).toBeNull()
  })

  it('refuses an empty or blank body and malformed JSON with ProtocolError (400)', async () => {
    await expect(readJson(request({}, []), 100)).rejects.toThrow('request body is empty; expected JSON')
    await expect(readJson(request({}, [' \n ']), 100)).rejects.toBeInstanceOf(ProtocolError)
    await expect(readJson(request({}, ['{"a":']), 100)).rejects.toThrow(/not valid JSON/)
  })

  it('refuses a JSON body over the limit as too large, not as malformed', async () => {
    await expect(readJson(request({}, ['{"a":"0123456789"}']), 8)).rejects.toBeInstanceOf(BodyTooLargeError)
  })
})

describe('discardBody', () => {
  it('says true once a body within the bound ended, false past it or when the client left', async () => {
    expect(await discardBody(request({}, ['0123456789']), 10)).toBe(true)
    expect(await discardBody(request({}, ['0123456789', 'x'], { end: false }), 10)).toBe(false)
    const gone = request({}, ['abc'], { end: false })
    const discarding = discardBody(gone, 100)
    gone.destroy()
    expect(await discarding).toBe(false)
  })

  it('answers at once for a body already read or a request already destroyed', async () => {
    const read = request({}, ['abc'])
    await readBody(read, 10)
    expect(await discardBody(read, 0)).toBe(true)
    const destroyed = request({}, [], { end: false })
    destroyed.destroy()
    expect(await discardBody(destroyed, 10)).toBe(false)
  })
})
