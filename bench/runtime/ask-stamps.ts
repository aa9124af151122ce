/**
 * The stamps of the ask breakdown (ask-breakdown.ts and workers/ask-receiver.ts): one row of Float64
 * per sample, monotonic nanoseconds (`process.hrtime`, one clock for every thread of the process).
 */
export const Stamp = {
  /** Caller: before `writeMessage`. */
  Start: 0,
  /** Caller: frame encoded and copied into the mailbox, not yet published. */
  Written: 1,
  /** Caller: after `flush` (tail published, receiver's doorbell rung). */
  Rung: 2,
  /** Receiver: its `Doorbell.wait` returned. */
  Woke: 3,
  /** Receiver: envelope read and body decoded. */
  Decoded: 4,
  /** Receiver: `receive` returned. */
  Received: 5,
  /** Receiver: reply encoded and copied into the reply ring, not yet published. */
  ReplyWritten: 6,
  /** Receiver: after the reply's `flush` (caller's doorbell rung). */
  ReplyRung: 7,
  /** Caller: its pump's `Doorbell.wait` returned. */
  CallerWoke: 8,
  /** Caller: reply decoded, the ask's promise resolved. */
  ReplyDecoded: 9,
  /** Caller: the code awaiting the ask runs again. */
  Resumed: 10,
} as const

export const kStamps = 11

export const nowNs = (): number => Number(process.hrtime.bigint())
