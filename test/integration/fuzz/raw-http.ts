/**
 * A raw HTTP/1.1 client for the fuzz tests: it writes the request bytes as given (any header value,
 * any body bytes, a body larger than the server takes) on a fresh socket and reads the answer. An SSE
 * answer is cut once its head arrived. A socket that errors or closes before a whole answer is a
 * `dropped` reply, which the properties refuse.
 */
import net from 'node:net'

export interface RawReply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** Set when the socket failed or closed before a complete answer. */
  readonly dropped?: string
}

export interface RawRequest {
  readonly method: string
  /** The request target as sent: `/path?query`. */
  readonly target: string
  /** Header lines, values as given (the caller keeps them free of CR, LF and NUL). */
  readonly headers?: readonly (readonly [string, string])[]
  readonly body?: Buffer
}

function parseHead(text: string): { status: number; headers: Record<string, string> } {
  const [statusLine = '', ...lines] = text.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    // HTTP's optional whitespace is SP and HTAB only (String#trim would also take U+00A0 of a Latin-1 value).
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')
  }
  return { status: Number(statusLine.split(' ')[1]), headers }
}

/** Sends one request with `Connection: close` and resolves with the answer (never rejects). */
export function rawRequest(baseUrl: string, request: RawRequest, timeoutMs = 10_000): Promise<RawReply> {
  const { hostname, port } = new URL(baseUrl)
  const body = request.body ?? Buffer.alloc(0)
  const head =
    `${request.method} ${request.target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n` +
    (request.headers ?? []).map(([name, value]) => `${name}: ${value}\r\n`).join('') +
    (request.method === 'GET' && body.length === 0 ? '' : `Content-Length: ${body.length}\r\n`) +
    '\r\n'
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port) })
    const chunks: Buffer[] = []
    let done = false
    const finish = (reply: RawReply) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(reply)
    }
    const timer = setTimeout(() => finish({ status: 0, headers: {}, body: '', dropped: 'timeout' }), timeoutMs)
    const tryParse = (ended: boolean): void => {
      const all = Buffer.concat(chunks)
      const end = all.indexOf('\r\n\r\n')
      if (end < 0) {
        if (ended) finish({ status: 0, headers: {}, body: '', dropped: 'closed before the head' })
        return
      }
      const { status, headers } = parseHead(all.toString('latin1', 0, end))
      const rest = all.subarray(end + 4)
      if ((headers['content-type'] ?? '').startsWith('text/event-stream')) {
        finish({ status, headers, body: rest.toString('utf8') })
        return
      }
      const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length'])
      if (length !== undefined && rest.length >= length) {
        finish({ status, headers, body: rest.toString('utf8', 0, length) })
      } else if (ended) {
        if (length === undefined && headers['transfer-encoding'] === undefined)
          finish({ status, headers, body: rest.toString('utf8') })
        else finish({ status, headers, body: rest.toString('utf8'), dropped: 'closed before the end of the body' })
      }
    }
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      tryParse(false)
    })
    socket.on('end', () => tryParse(true))
    socket.on('close', () => tryParse(true))
    // A write cut by the server (it answered 413 and closed) is not a dropped reply: the answer decides.
    socket.on('error', () => tryParse(true))
    socket.write(head)
    if (body.length > 0) socket.write(body)
  })
}

/** The `id`/`event`/`data` frames of an SSE text (data lines joined with `\n`). */
export function sseFrames(text: string): { id?: string; event?: string; data: string }[] {
  const frames: { id?: string; event?: string; data: string }[] = []
  for (const block of text.split('\n\n').slice(0, -1)) {
    const frame: { id?: string; event?: string; data: string } = { data: '' }
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'id') frame.id = value
      else if (field === 'event') frame.event = value
      else if (field === 'data') data.push(value)
    }
    if (data.length === 0 && frame.event === undefined) continue
    frame.data = data.join('\n')
    frames.push(frame)
  }
  return frames
}
