/** Frames whose bytes are a function of their sequence number, so a reader can check each one. */
export function fillFrame(seq: number, size: number): Uint8Array {
  const frame = new Uint8Array(size)
  for (let i = 0; i < size; i++) frame[i] = (seq * 31 + i * 7) & 0xff
  if (size >= 4) new DataView(frame.buffer).setUint32(0, seq, true)
  return frame
}

/** The sequence number a frame claims, or undefined when its bytes are not those of `fillFrame`. */
export function checkFrame(frame: Uint8Array, seq: number, size: number): boolean {
  if (frame.length !== size) return false
  const expected = fillFrame(seq, size)
  for (let i = 0; i < size; i++) if (frame[i] !== expected[i]) return false
  return true
}
