/**
 * The `sink-reader` actor: one per sink instance, on a runtime thread. It holds a `SinkReader`
 * (sink-reader.ts) and maps the messages of `sink-protocol.ts` onto it.
 */
import { defineActor } from '../../runtime/actor.js'
import { SinkReader } from './sink-reader.js'
import type { SinkReaderArgs, SinkReaderMsg } from './sink-protocol.js'

export default defineActor<SinkReader, SinkReaderMsg, SinkReaderArgs>({
  async init(args, ctx) {
    const reader = new SinkReader(args, ctx)
    try {
      await reader.start()
    } catch (error) {
      await reader.stop()
      throw error
    }
    return reader
  },

  async receive(reader, msg, ctx) {
    switch (msg.t) {
      case 'credit':
        reader.credit(msg.n, msg.consumed)
        break
      case 'ack':
        reader.ack(msg.seq, msg.runs)
        break
      case 'alive':
        reader.alive()
        break
      case 'addStream':
        await reader.addStream(msg.stream, msg.start, msg.ttl)
        break
      case 'removeStream':
        await reader.removeStream(msg.stream)
        break
      case 'stats':
        ctx.reply(reader.stats())
        break
      case 'close':
        await reader.close()
        break
    }
    return reader
  },

  async stop(reader) {
    await reader.stop()
  },
})
