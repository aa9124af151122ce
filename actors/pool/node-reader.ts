/**
 * The loop that feeds this node's handlers: one blocking XREAD over the node's stream (the dispatch
 * returns, `d`) and its running workers' streams (`j`, `s`, `n`), until the node stops reading. The
 * node stream is read with a plain XREAD, so the router (watchdog thread) sees the same entries for `a`.
 * The streams of one read belong to one pool: in the `cluster` layout they share its slot, and the read
 * goes through `blocking()` (on a cluster, a Cluster connection of its own) to that slot's master.
 */
import { sleep } from '../../runtime/lifecycle.js'
import type { PulseRedis } from '../../transports/redis/connection.js'
import { type AckRecord, decodeAck, decodeEnvelope, kPoolEvents } from '../../transports/redis/pool/codec.js'
import { nodeStreamName, streamKey } from '../../transports/redis/pool/keys.js'
import { decodeEntry } from '../../transports/redis/streaming/entry.js'
import type { NodeContext } from './context.js'
import type { LocalWorker } from './local-worker.js'
import { kReadCount, streamEntries } from './router.js'

export interface NodeReaderHandlers {
  /** The workers whose streams are read (re-read on each XREAD). */
  workers(): LocalWorker[]
  onWorkerEvent(worker: LocalWorker, eventId: string, name: string, payload: Buffer): void
  onDispatchReturn(ack: AckRecord): void
}

/** Reads until `signal` aborts (a failed read is logged and retried after 100 ms). */
export async function readNodeStreams(
  ctx: NodeContext,
  redis: PulseRedis,
  signal: AbortSignal,
  handlers: NodeReaderHandlers,
): Promise<void> {
  const nodeStream = streamKey(nodeStreamName(ctx.pool, ctx.nodeId, ctx.keyLayout))
  const blockMs = Math.max(1, Math.min(ctx.options.jobSinkBlockMs, ctx.timings.workerReadBlockMs))
  let nodeStreamLastId = '0'
  while (!signal.aborted) {
    try {
      const workers = handlers.workers()
      const keys = [nodeStream, ...workers.map((w) => w.stream)]
      const ids = [nodeStreamLastId, ...workers.map((w) => w.lastId)]
      const reply = await redis
        .blocking()
        .callBuffer('XREAD', 'COUNT', kReadCount, 'BLOCK', blockMs, 'STREAMS', ...keys, ...ids)
      for (const { stream, id, fields } of streamEntries(reply)) {
        const entry = decodeEntry(id, fields)
        if (stream === nodeStream) {
          nodeStreamLastId = id
          if (entry !== undefined) onNodeEvent(ctx, entry.name, entry.payload, handlers)
          continue
        }
        const worker = workers.find((w) => w.stream === stream)
        if (worker === undefined) continue
        worker.lastId = id
        if (entry !== undefined) handlers.onWorkerEvent(worker, id, entry.name, entry.payload)
      }
    } catch (error) {
      if (signal.aborted) break
      ctx.log('warn', 'pool: reading the node stream failed', error)
      await sleep(100)
    }
  }
}

/** An entry of the node stream: a `d` settles its dispatch; `a` is the router's, `i` nobody's. */
function onNodeEvent(ctx: NodeContext, name: string, payload: Buffer, handlers: NodeReaderHandlers): void {
  if (name === kPoolEvents.init) return
  let ack: AckRecord
  try {
    ack = decodeAck(decodeEnvelope(payload).payload)
  } catch (error) {
    ctx.log('error', 'pool: dropped a malformed node event', error)
    return
  }
  if (name === kPoolEvents.dispatchReturn) handlers.onDispatchReturn(ack)
}
