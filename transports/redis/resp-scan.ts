/**
 * A cursor over a RESP2 reply's bytes, for the decoders of `RespConnection` replies (the sink's and the
 * bus's XREAD decoders): integers and bulk strings read in place, without a Buffer per field. It throws
 * `kIncomplete` (one instance) when the bytes run out, and the decoder answers "not yet" to be asked again
 * with more; any other error means the reply is not of the shape the decoder expects.
 */
/** Thrown (one instance, made once) when the bytes run out: the reply is asked for again with more. */
export const kIncomplete = new Error('incomplete reply')

/** A cursor over the reply's bytes; throws kIncomplete when they run out. */
export class RespScan {
  readonly buf: Buffer
  pos: number
  /** The span of the last bulk string read. */
  start = 0
  end = 0

  constructor(buf: Buffer, pos: number) {
    this.buf = buf
    this.pos = pos
  }

  /** `<type><integer>\r\n`: the integer. */
  header(type: number): number {
    const buf = this.buf
    if (this.pos >= buf.length) throw kIncomplete
    if (buf[this.pos] !== type)
      throw new Error(
        `expected ${String.fromCharCode(type)} at ${this.pos}, found ${JSON.stringify(String.fromCharCode(buf[this.pos] ?? 0))}`,
      )
    let i = this.pos + 1
    let negative = false
    if (buf[i] === 0x2d) {
      negative = true
      i++
    }
    let value = 0
    for (;;) {
      if (i >= buf.length) throw kIncomplete
      const c = buf[i] as number
      if (c === 0x0d) break
      if (c < 0x30 || c > 0x39) throw new Error(`bad integer at ${i}`)
      value = value * 10 + (c - 0x30)
      i++
    }
    if (i + 1 >= buf.length) throw kIncomplete
    this.pos = i + 2
    return negative ? -value : value
  }

  /** A bulk string: sets `start`/`end`; false for a nil one. */
  bulk(): boolean {
    const length = this.header(0x24)
    if (length < 0) return false
    if (this.pos + length + 2 > this.buf.length) throw kIncomplete
    this.start = this.pos
    this.end = this.pos + length
    this.pos = this.end + 2
    return true
  }

  /** A bulk string that may not be nil (`what` names it in the error). */
  need(what: string): void {
    if (!this.bulk()) throw new Error(`a nil ${what} at ${this.pos}`)
  }

  /** The last bulk string read, as text. */
  text(): string {
    return this.buf.toString('utf8', this.start, this.end)
  }

  /** Skips one reply of any type (an unexpected field value). */
  skip(): void {
    const type = this.buf[this.pos]
    if (type === 0x24) {
      this.bulk()
      return
    }
    if (type === 0x2a) {
      const n = this.header(0x2a)
      for (let i = 0; i < n; i++) this.skip()
      return
    }
    if (type === 0x2b || type === 0x3a || type === 0x2d) {
      const cr = this.buf.indexOf(0x0d, this.pos)
      if (cr < 0 || cr + 1 >= this.buf.length) throw kIncomplete
      this.pos = cr + 2
      return
    }
    if (type === undefined) throw kIncomplete
    throw new Error(`unexpected reply type ${JSON.stringify(String.fromCharCode(type))}`)
  }
}

function sameBytes(buf: Buffer, a: number, b: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (buf[a + i] !== buf[b + i]) return false
  return true
}

/** Decodes a text field, reusing the previous string when the bytes repeat. */
export class Interned {
  #start = -1
  #length = -1
  #text = ''

  text(buf: Buffer, start: number, end: number): string {
    const length = end - start
    if (length === this.#length && sameBytes(buf, start, this.#start, length)) return this.#text
    this.#start = start
    this.#length = length
    this.#text = buf.toString('utf8', start, end)
    return this.#text
  }
}
