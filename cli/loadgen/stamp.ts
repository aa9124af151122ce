/** Operations carry their send time (performance.now(), this process) so that a delivery can time them. */
export interface Stamped {
  readonly t: number
}

/** The stamp of `value` (an args object, or its JSON), or undefined when it has none. */
export function stampOf(value: unknown): number | undefined {
  const parsed: unknown = typeof value === 'string' || value instanceof Uint8Array ? parse(value) : value
  const t = (parsed as Partial<Stamped> | null)?.t
  return typeof t === 'number' ? t : undefined
}

function parse(text: string | Uint8Array): unknown {
  try {
    return JSON.parse(typeof text === 'string' ? text : Buffer.from(text).toString('utf8'))
  } catch {
    return undefined
  }
}

/** The stamp `t` as JSON (`{"t":…}`). */
export function stampJson(t: number): string {
  return JSON.stringify({ t })
}
