/**
 * Live fragments over server-sent events: a `live: true` route opens the request's SSE stream and sends
 * each fragment as one `message` event (its data: the server-rendered, escaped HTML that the page's
 * `[data-live]` element swaps in, assets/script.ts) until the client goes away or the server closes.
 *
 * `serveLive` renders every `everyMs` and sends only what changed; `serveLiveOn` renders on each
 * notification of a feed (a map's changes), at most once per `minGapMs`.
 */
import { isPulseError } from '../runtime/errors.js'
import { sleep } from '../runtime/lifecycle.js'
import type { SseStream } from '../transports/http/index.js'
import { html, type SafeHtml } from './html.js'
import type { PageRequest } from './page.js'

export const LIVE_INTERVAL_MS = 2_000

/** A failed render as the fragment: the error's code and message for a Pulse error, else nothing of it. */
export function liveError(error: unknown): SafeHtml {
  const message = isPulseError(error) ? `${error.code}: ${error.message}` : 'internal error'
  return html`<p class="error" role="alert">Could not refresh: ${message}</p>`
}

function openStream(req: PageRequest): SseStream {
  return req.ctx.sse({ headers: { 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' } })
}

/** Sends `fragment` unless it is `last`; false once the stream is closed. */
function sendChanged(stream: SseStream, fragment: SafeHtml, last: { text: string | undefined }): boolean {
  if (fragment.text === last.text) return stream.open
  last.text = fragment.text
  return stream.send({ data: fragment.text })
}

async function renderSafely(render: (signal: AbortSignal) => Promise<SafeHtml>, signal: AbortSignal) {
  try {
    return await render(signal)
  } catch (error) {
    return liveError(error)
  }
}

/** Sends `render()`'s fragment now, then again every `everyMs` when it changed, until the stream closes. */
export async function serveLive(
  req: PageRequest,
  render: (signal: AbortSignal) => Promise<SafeHtml>,
  everyMs = LIVE_INTERVAL_MS,
): Promise<void> {
  const stream = openStream(req)
  const last = { text: undefined as string | undefined }
  while (stream.open) {
    const fragment = await renderSafely(render, stream.signal)
    if (!sendChanged(stream, fragment, last)) break
    await sleep(everyMs, stream.signal).catch(() => undefined)
  }
}

/**
 * Sends `render()`'s fragment now, then after each value of `feed` (a coalescing iterator: what
 * happened while a render ran is one more value), at most once per `minGapMs`, until the stream closes
 * or the feed ends. `feed.return()` runs when the stream closes.
 */
export async function serveLiveOn(
  req: PageRequest,
  feed: AsyncIterableIterator<unknown>,
  render: () => Promise<SafeHtml>,
  minGapMs = 250,
): Promise<void> {
  const stream = openStream(req)
  const stop = () => void feed.return?.()
  stream.signal.addEventListener('abort', stop, { once: true })
  const last = { text: undefined as string | undefined }
  try {
    if (!sendChanged(stream, await renderSafely(render, stream.signal), last)) return
    for await (const _change of feed) {
      await sleep(minGapMs, stream.signal).catch(() => undefined)
      if (!sendChanged(stream, await renderSafely(render, stream.signal), last)) return
    }
  } finally {
    stream.signal.removeEventListener('abort', stop)
    stream.end()
  }
}
