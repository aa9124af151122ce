/** Real clients for the HTTP transport tests: node:http requests without pooling, curl, SSE readers. */
import { execFile } from 'node:child_process'
import type { ClientRequest, IncomingMessage } from 'node:http'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'

export interface Reply {
  status: number
  headers: IncomingMessage['headers']
  body: string
}

export interface RequestOptions {
  method?: string
  headers?: Record<string, string>
  body?: string | Buffer
  ca?: string
}

/** One request on a fresh connection (no agent, so nothing stays open), read to the end. */
export function request(url: string, { method = 'GET', headers = {}, body, ca }: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest
    const req = send(url, { method, headers, agent: false, ...(ca === undefined ? {} : { ca }) }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Runs curl; resolves with its stdout (rejects on a non-zero exit, with stderr). */
export function curl(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['--silent', '--show-error', '--max-time', '10', ...args], (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`curl ${args.join(' ')} failed: ${stderr}`, { cause: error }))
      else resolve(stdout)
    })
  })
}

/** An SSE response being read: its text so far, and a wait for a substring. */
export interface SseClient {
  readonly req: ClientRequest
  readonly res: IncomingMessage
  readonly text: () => string
  /** Resolves once the text so far contains `needle`; rejects if the stream ends first. */
  waitFor(needle: string): Promise<string>
  /** Resolves when the response ends or is cut. */
  readonly ended: Promise<void>
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { Accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
      let text = ''
      const waiters = new Set<() => void>()
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
        for (const check of waiters) check()
      })
      const ended = new Promise<void>((done) => {
        res.on('close', () => {
          for (const check of waiters) check()
          done()
        })
      })
      let gone = false
      void ended.then(() => (gone = true))
      resolve({
        req,
        res,
        text: () => text,
        ended,
        waitFor: (needle) =>
          new Promise((found, fail) => {
            const check = () => {
              if (text.includes(needle)) {
                waiters.delete(check)
                found(text)
              } else if (gone || res.destroyed || res.complete) {
                waiters.delete(check)
                fail(new Error(`SSE stream ended without ${JSON.stringify(needle)}; got ${JSON.stringify(text)}`))
              }
            }
            waiters.add(check)
            check()
          }),
      })
    })
    req.on('error', reject)
    req.end()
  })
}

/** A promise and its resolver. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {}
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}
