/**
 * Request bodies with a byte limit. `readBody` refuses a body whose `Content-Length` is over the
 * limit before reading any of it, and stops collecting as soon as a chunked body goes over it, so no
 * more than `maxBytes` (plus one socket read) is ever held. What is left of a refused body is
 * `discardBody`'s business: the server reads and drops up to one more limit's worth so that the 413
 * reaches a client that is still sending, then gives up on the connection.
 */
import type { IncomingMessage } from 'node:http'

import { BodyTooLargeError, ClosedError, ProtocolError } from '../../runtime/errors.js'

function tooLarge(maxBytes: number, received: number | undefined): BodyTooLargeError {
  return new BodyTooLargeError(`request body is larger than ${maxBytes} bytes`, {
    data: { maxBytes, ...(received === undefined ? {} : { contentLength: received }) },
  })
}

/**
 * The whole body of `req`, at most `maxBytes`: throws `BodyTooLargeError` (413) past it, `ClosedError`
 * when the client goes away before the end.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length']
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.reject(tooLarge(maxBytes, Number(declared)))
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0))
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const cleanup = () => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onGone)
      req.off('close', onGone)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        cleanup()
        chunks.length = 0
        req.pause()
        reject(tooLarge(maxBytes, undefined))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resolve(Buffer.concat(chunks, size))
    }
    const onGone = () => {
      cleanup()
      reject(new ClosedError('the client closed the connection before the end of the request body'))
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onGone)
    req.on('close', onGone)
  })
}

/** The body parsed as JSON: `readBody`, then `ProtocolError` (400) for an empty or malformed body. */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const body = await readBody(req, maxBytes)
  const text = body.toString('utf8')
  if (text.trim() === '') throw new ProtocolError('request body is empty; expected JSON')
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new ProtocolError(`request body is not valid JSON: ${(error as Error).message}`, { cause: error })
  }
}

/**
 * Reads and drops the rest of a body, up to `maxBytes` more. Resolves `true` once the body ended
 * (the connection can carry another request), `false` when it is longer or the client went away.
 */
export function discardBody(req: IncomingMessage, maxBytes: number): Promise<boolean> {
  if (req.readableEnded) return Promise.resolve(true)
  if (req.destroyed) return Promise.resolve(false)
  return new Promise<boolean>((resolve) => {
    let size = 0
    const finish = (ended: boolean) => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('close', onClose)
      resolve(ended)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) finish(false)
    }
    const onEnd = () => finish(true)
    const onClose = () => finish(req.complete)
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('close', onClose)
    req.resume()
  })
}
