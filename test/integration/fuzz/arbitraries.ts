/** Generators shared by the HTTP fuzz tests: hostile text, values of the wrong type, times, headers, URLs. */
import fc from 'fast-check'

/** Text of every kind: control characters, lone surrogates, wildcards, dots, non-Latin letters. */
export const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({
    unit: fc.constantFrom('a', '.', '*', '>', ' ', '\n', '\r', '\0', '\u2028', 'é', '_', '\ud800', '中', 'e_', 'c_'),
  }),
  fc.constantFrom('', 'a', 'a.', '.a', 'a..b', 'a.>', 'a.*', '_bus_.x', 'b.x', 'zz.x', 'a.b\nc', 'a.\u0000', 'ä.ö'),
)

/** A JSON value of the wrong type for a string field. */
export const wrongType = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.object({ maxDepth: 1 }),
)

/** Dates as text: valid ones, the ends of `Date`'s range, and not dates at all. */
export const timeText = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('+275760-09-13T00:00:00.000Z', '-271821-04-20T00:00:00Z', '0001-01-01T00:00:00Z', '1', '-1', 'now'),
  hostileText,
)

/** Numbers where an integer is wanted: fractions, negatives, past the safe range, as text. */
export const oddNumber = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.double({ noNaN: true }),
  fc.constantFrom(2 ** 31, 2 ** 53, 1e300, -0, '3', '1e3'),
)

/** JSON values with hostile strings in them (NUL, lone surrogates, line breaks). */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(hostileText, fc.oneof(hostileText, fc.integer()), { maxKeys: 3 }),
  fc.array(hostileText, { maxLength: 3 }),
  hostileText,
)

/** A header value Node's client lets through: printable ASCII. */
export const headerValue = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 40,
})

/** Every byte of the text's UTF-8 percent-encoded (a lone surrogate becomes U+FFFD). */
export function percent(text: string): string {
  return [...Buffer.from(text)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')
}

/** A query string of the defined pairs, percent-encoded (so the request line stays valid HTTP). */
export function query(pairs: Readonly<Record<string, string | undefined>>): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(pairs)) if (v !== undefined) params.append(k, v)
  const text = params.toString()
  return text === '' ? '' : `?${text}`
}

/** Header lines of the defined values. */
export function headerLines(list: Readonly<Record<string, string | undefined>>): [string, string][] {
  return Object.entries(list).filter((e): e is [string, string] => e[1] !== undefined)
}

/** A body as sent: JSON text of a value, or raw bytes. */
export function jsonBody(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value) ?? '')
}

/** Bytes that are not a JSON body: random, cut JSON, broken UTF-8. */
export const notJson: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b)),
  fc.jsonValue().chain((v) => fc.nat().map((n) => jsonBody(v).subarray(0, n % 24))),
  fc.constant(Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')])),
)
