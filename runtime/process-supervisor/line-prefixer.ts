/**
 * Line-buffered, prefixed copying of a child's output: every complete line becomes `<prefix><line>\n`
 * on the output, written once per chunk so that lines of different children never interleave mid-line.
 * A partial last line is held until its newline comes or `end()` flushes it. A line longer than
 * `kMaxLineChars` is cut and written in pieces, so a child printing no newlines cannot grow the buffer
 * without bound. UTF-8 sequences split across chunks are decoded whole; `\r\n` endings lose the `\r`.
 */
import { StringDecoder } from 'node:string_decoder'

export const kMaxLineChars = 64 * 1024

export class LinePrefixer {
  readonly #prefix: string
  readonly #output: NodeJS.WritableStream
  readonly #decoder = new StringDecoder('utf8')
  #partial = ''
  #ended = false

  constructor(prefix: string, output: NodeJS.WritableStream) {
    this.#prefix = prefix
    this.#output = output
  }

  push(chunk: Buffer | string): void {
    if (this.#ended) return
    const text = this.#partial + (typeof chunk === 'string' ? chunk : this.#decoder.write(chunk))
    const lines = text.split('\n')
    this.#partial = lines.pop() ?? ''
    while (this.#partial.length > kMaxLineChars) {
      lines.push(this.#partial.slice(0, kMaxLineChars))
      this.#partial = this.#partial.slice(kMaxLineChars)
    }
    this.#write(lines)
  }

  /** Flushes the partial last line, if any; later pushes are ignored. Idempotent. */
  end(): void {
    if (this.#ended) return
    this.#ended = true
    const rest = this.#partial + this.#decoder.end()
    this.#partial = ''
    if (rest !== '') this.#write([rest])
  }

  #write(lines: readonly string[]): void {
    if (lines.length === 0) return
    let out = ''
    for (const line of lines) out += `${this.#prefix}${line.endsWith('\r') ? line.slice(0, -1) : line}\n`
    this.#output.write(out)
  }
}
