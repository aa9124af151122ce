/** The dashboard over HTTP, as a browser reads it: pages as HTML text, live routes as SSE `message` events. */
import { withTimeout } from '../../../runtime/lifecycle.js'

export interface Page {
  readonly status: number
  readonly html: string
}

/** GETs a page of the dashboard under `base` (the server's URL) as a browser asks for it. */
export async function getPage(base: string, path: string): Promise<Page> {
  const res = await fetch(`${base}/ui${path}`, { headers: { Accept: 'text/html' } })
  return { status: res.status, html: await res.text() }
}

const kEntities: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" }

/** Attribute or text content as the browser reads it back. */
export function unescapeHtml(text: string): string {
  return text.replace(/&(?:amp|lt|gt|quot|#39);/g, (entity) => kEntities[entity] as string)
}

/** The JSON of the first `data-chart` attribute of `html`. */
export function chartSpec(html: string): { series: string[]; data: number[][] } {
  const attribute = /data-chart="([^"]*)"/.exec(html)?.[1]
  if (attribute === undefined) throw new Error('no data-chart on the page')
  return JSON.parse(unescapeHtml(attribute)) as { series: string[]; data: number[][] }
}

/** The text of the `<td data-status=…>` cell of the row `data-name=…` of the counts table. */
export function countCell(html: string, name: string, status: string): string | undefined {
  const row = new RegExp(`<tr data-name="${name}">([\\s\\S]*?)</tr>`).exec(html)?.[1]
  const cell = row === undefined ? undefined : new RegExp(`data-status="${status}">([^<]*)<`).exec(row)?.[1]
  return cell?.trim()
}

/** The data of each `message` event in a chunk of SSE text (comments and other events skipped). */
function messages(frames: string[]): string[] {
  return frames.flatMap((frame) => {
    const lines = frame.split('\n')
    if (lines.some((line) => line.startsWith('event:'))) return []
    const data = lines.filter((line) => line.startsWith('data: ')).map((line) => line.slice(6))
    return data.length === 0 ? [] : [data.join('\n')]
  })
}

/**
 * A live route's `message` events: opens `path`, gives each event's data to `until`, resolves with the
 * events seen once it returns true (or rejects after `ms`), then closes the stream. `onOpen` runs once
 * the first event arrived (to make the next change).
 */
export async function liveEvents(
  base: string,
  path: string,
  until: (data: string, seen: readonly string[]) => boolean,
  onFirst: () => Promise<unknown> = () => Promise.resolve(),
  ms = 15_000,
): Promise<string[]> {
  const abort = new AbortController()
  const seen: string[] = []
  const read = async () => {
    const res = await fetch(`${base}/ui${path}`, { headers: { Accept: 'text/event-stream' }, signal: abort.signal })
    if (res.status !== 200 || res.body === null) throw new Error(`${path} answered ${res.status}`)
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true })
      const frames = buffer.split('\n\n')
      buffer = frames.pop() ?? ''
      for (const data of messages(frames)) {
        seen.push(data)
        if (until(data, seen)) return seen
        if (seen.length === 1) await onFirst()
      }
    }
    throw new Error(`${path} ended after ${seen.length} events`)
  }
  try {
    return await withTimeout(read(), ms, () => new Error(`${path}: no matching event within ${ms} ms`))
  } finally {
    abort.abort()
  }
}
