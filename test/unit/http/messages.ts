/**
 * Real `node:http` request and response objects on an unconnected socket: a test feeds a request's body
 * with `push` and reads what a response was given (status, headers), with no server.
 */
import { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'

/** A request with `headers`; `body` chunks are pushed and the body ended unless `end` is false. */
export function request(
  headers: Record<string, string> = {},
  body: readonly (string | Buffer)[] = [],
  { method = 'GET', end = true } = {},
): IncomingMessage {
  const req = new IncomingMessage(new Socket())
  req.method = method
  req.headers = headers
  for (const chunk of body) req.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  if (end) {
    req.push(null)
    req.complete = true
  }
  return req
}

export function response(req = request()): ServerResponse {
  return new ServerResponse(req)
}
