// Worker: the receiving half of one `ask`, built from the kernel's own functions in the order `ActorHost`
// and its outbox call them (sleep on the doorbell, drain, decode, receive, encode the reply, write it,
// ring the caller), with a timestamp after each piece in the shared rows (ask-stamps.ts).
import { parentPort, workerData } from 'node:worker_threads'

import { decodeBody, encodeBody, encodeHeader, FrameKind, readEnvelope } from '../../../runtime/ring/codec.js'
import { Doorbell } from '../../../runtime/ring/doorbell.js'
import { RingReader, RingWriter } from '../../../runtime/ring/ring-buffer.js'
import { kStamps, nowNs, Stamp } from '../ask-stamps.js'

export interface AskReceiverBoot {
  readonly inbound: SharedArrayBuffer
  readonly outbound: SharedArrayBuffer
  readonly threadBell: SharedArrayBuffer
  readonly runtimeBell: SharedArrayBuffer
  readonly stamps: SharedArrayBuffer
  readonly spinUs: number
}

const boot = workerData as AskReceiverBoot
const reader = new RingReader(boot.inbound)
const bell = new Doorbell(boot.threadBell)
const writer = new RingWriter(boot.outbound, new Doorbell(boot.runtimeBell))
const stamps = new Float64Array(boot.stamps)

/** The echo actor's `receive`. */
const receive = (state: null, msg: unknown): [null, unknown] => [state, msg]

let woke = 0
let stopping = false

function onFrame(payload: Uint8Array): boolean {
  const env = readEnvelope(payload)
  if (env.kind !== FrameKind.Ask) {
    stopping = true
    return false
  }
  const msg = decodeBody(env.format, env.body)
  const decoded = nowNs()
  const [, reply] = receive(null, msg)
  const received = nowNs()
  const [format, body] = encodeBody(reply)
  writer.tryWrite(encodeHeader(FrameKind.Reply, format, env.slot, env.corr), body, false)
  const written = nowNs()
  writer.flush()
  const rung = nowNs()
  const row = env.corr * kStamps
  stamps[row + Stamp.Woke] = woke
  stamps[row + Stamp.Decoded] = decoded
  stamps[row + Stamp.Received] = received
  stamps[row + Stamp.ReplyWritten] = written
  stamps[row + Stamp.ReplyRung] = rung
  return true
}

const hasWork = () => reader.hasFrames()
while (!stopping) {
  if (reader.drain(onFrame, 256) > 0) continue
  await bell.wait(hasWork, Number.POSITIVE_INFINITY, boot.spinUs)
  woke = nowNs()
}
parentPort?.postMessage('done')
