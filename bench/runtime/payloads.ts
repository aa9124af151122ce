/** The messages the runtime benchmarks send: pools of distinct binary payloads and job objects. */

export interface JobMessage {
  readonly id: number
  readonly kind: 'job'
  readonly name: string
  readonly attempt: number
  readonly payload: { readonly to: string; readonly n: number }
}

/** `n` distinct Uint8Arrays of `bytes` bytes, each on its own ArrayBuffer (no sharing for a clone to exploit). */
export function binaryPool(bytes: number, n = 100): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => new Uint8Array(bytes).fill(i & 0xff))
}

export function job(i: number): JobMessage {
  return { id: i, kind: 'job', name: 'send-email', attempt: 1 + (i % 3), payload: { to: `user${i}@example.com`, n: i } }
}

/** `n` distinct small job objects. */
export function jobPool(n = 100): JobMessage[] {
  return Array.from({ length: n }, (_, i) => job(i))
}

/** `n` distinct strings of `chars` ASCII characters. */
export function stringPool(chars: number, n = 100): string[] {
  return Array.from({ length: n }, (_, i) => `${i}:`.padEnd(chars, 'x'))
}
