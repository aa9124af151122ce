/**
 * The `sink-reader` actor: one per sink instance, on a runtime thread. It holds a `SinkReader`
 * (sink-reader.ts) and maps the messages of `sink-protocol.ts` onto it: `close` closes the reader, the
 * actor's stop destroys it (a no-op after the close). Once the close started, a failure is not a crash,
 * which would restart a reader that joins the group again: a failed close, or a message the closed reader
 * refuses (`ClosedError`: a retried credit or ping that arrives after the close), fails its ask, or is
 * dropped when a tell.
 */
import { defineActor, type ActorContext } from '../../runtime/actor.js'
import { coerceError } from '../../runtime/errors.js'
import { SinkReader } from './sink-reader.js'
import type { SinkReaderArgs, SinkReaderMsg } from './sink-protocol.js'

async function handle(reader: SinkReader, msg: SinkReaderMsg, ctx: ActorContext): Promise<void> {
  switch (msg.t) {
    case 'credit':
      reader.credit(msg.n, msg.consumed)
      return
    case 'ack':
      reader.ack(msg.seq, msg.runs)
      return
    case 'alive':
      reader.alive()
      return
    case 'addStream':
      return reader.addStream(msg.stream, msg.start, msg.ttl)
    case 'removeStream':
      return reader.removeStream(msg.stream)
    case 'stats':
      ctx.reply(reader.stats())
      return
    case 'close':
      return reader.close()
  }
}

export default defineActor<SinkReader, SinkReaderMsg, SinkReaderArgs>({
  async init(args, ctx) {
    const reader = new SinkReader(args, ctx)
    try {
      await reader.start()
    } catch (error) {
      await reader.destroy().catch(() => undefined)
      throw error
    }
    return reader
  },

  async receive(reader, msg, ctx) {
    try {
      await handle(reader, msg, ctx)
    } catch (error) {
      if (reader.state === 'open') throw error
      ctx.reply(coerceError(error))
    }
    return reader
  },

  async stop(reader) {
    await reader.destroy()
  },
})
