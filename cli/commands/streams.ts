/**
 * `pulse streams tail` / `pulse streams info`: read a stream (`actors/streaming`) from Redis.
 *
 * `tail NAME` prints one line per event, `<id> <event name> [topic=<topic>] <payload>` (`--json`: one
 * JSON object per line), from `--from` (`newest`: what is added from now on, the default; `oldest`:
 * every event kept; an event id: from that event on, itself included) until `--count` events, Ctrl-C
 * or SIGTERM, which close the reader and exit 0. A payload that is not UTF-8 is shown as
 * `base64:<…>` (`--json`: `payloadBase64` instead of `payload`).
 *
 * `info NAME` prints the stream's length, first and last event ids, and its sinks (consumer groups)
 * with their pending counts and consumers (`--json`: one document).
 *
 * A stream "does not exist" when Redis has no key for it (`pulse:stream:<name>`): both commands then
 * fail with `PULSE_ERR_INVALID_ARG`. Connecting and each request are bounded by `--timeout`.
 */
import { Command } from 'commander'

import { Stream } from '../../actors/streaming/index.js'
import type { Reader, SinkInfo, StartPosition, StreamEvent, StreamInfo } from '../../actors/streaming/index.js'
import { InvalidArgumentError } from '../../runtime/errors.js'
import { redisRequest, requireRedis, withConnectionFlags } from '../common/connect.js'
import { parseCount, parseFrom } from '../common/parse.js'
import { stopOnSignals } from '../common/signals.js'
import { cell, printJson, printRecord, printTable } from '../common/output.js'
import { type ConnectionFlags, resolveSettings, type Settings } from '../common/settings.js'

interface TailFlags extends ConnectionFlags {
  from: string
  count?: string
  json?: boolean
}

interface InfoFlags extends ConnectionFlags {
  json?: boolean
}

export function streamsCommand(): Command {
  const streams = new Command('streams').description('read streams (actors/streaming) straight from Redis')
  streams.addCommand(
    withConnectionFlags(new Command('tail'), { redis: true })
      .description('print events as they arrive, until --count events, Ctrl-C or SIGTERM')
      .argument('<name>', 'the stream')
      .option('--from <where>', 'newest, oldest, or an event id to start at (itself included)', 'newest')
      .option('--count <n>', 'exit after n events')
      .option('--json', 'print each event as one JSON object per line')
      .action((name: string, flags: TailFlags) => runTail(name, flags)),
  )
  streams.addCommand(
    withConnectionFlags(new Command('info'), { redis: true })
      .description('length, first and last event ids, sinks (consumer groups) with pending counts and consumers')
      .argument('<name>', 'the stream')
      .option('--json', 'print one JSON document')
      .action((name: string, flags: InfoFlags) => runInfo(name, flags)),
  )
  return streams
}

/** The stream's info, or a clear failure when it does not exist; within the timeout. */
async function existingStream(stream: Stream, settings: Settings, url: string): Promise<StreamInfo> {
  const info = await redisRequest(stream.info(), settings, url)
  if (info === undefined) {
    throw new InvalidArgumentError(`stream ${JSON.stringify(stream.name)} does not exist (no key ${stream.key})`, {
      data: { option: 'name' },
    })
  }
  return info
}

/** Opens `name` (the constructor checks it and does no I/O) and runs `fn`; the stream closes after. */
async function withStream<T>(
  name: string,
  flags: ConnectionFlags,
  fn: (stream: Stream, settings: Settings, url: string) => Promise<T>,
): Promise<T> {
  const settings = await resolveSettings(flags)
  const url = requireRedis(settings)
  const stream = new Stream(url, name)
  let result: T
  try {
    result = await fn(stream, settings, url)
  } catch (error) {
    // Not awaited: after a timeout the connection may take its own close bound to go, and the failure
    // is reported now (the CLI's exit does not wait for it either).
    void stream.close().catch(() => undefined)
    throw error
  }
  await stream.close()
  return result
}

async function runInfo(name: string, flags: InfoFlags): Promise<void> {
  await withStream(name, flags, async (stream, settings, url) => {
    const info = await existingStream(stream, settings, url)
    if (flags.json === true) printJson(infoJson(info))
    else printInfo(info)
  })
}

function infoJson(info: StreamInfo): unknown {
  return {
    name: info.name,
    length: info.length,
    firstId: info.firstId ?? null,
    lastId: info.lastId ?? null,
    sinks: info.sinks.map((sink) => ({
      name: sink.name,
      pending: sink.pending,
      lastDeliveredId: sink.lastDeliveredId,
      lag: sink.lag ?? null,
      consumers: sink.consumers.map((c) => ({ name: c.name, pending: c.pending, idleMs: c.idleMs })),
    })),
  }
}

function printInfo(info: StreamInfo): void {
  printRecord({ stream: info.name, length: info.length, 'first id': info.firstId, 'last id': info.lastId })
  if (info.sinks.length === 0) {
    process.stdout.write('no sinks (consumer groups)\n')
    return
  }
  printTable(
    ['sink', 'pending', 'lag', 'last delivered', 'consumers'],
    info.sinks.map((sink) => [sink.name, sink.pending, sink.lag, sink.lastDeliveredId, consumersCell(sink)]),
  )
}

/** One line per consumer (the cell escapes control characters, then the lines are joined). */
function consumersCell(sink: SinkInfo): string {
  if (sink.consumers.length === 0) return '(none)'
  return sink.consumers
    .map((c) => `${cell(c.name)}: ${c.pending} pending, idle ${(c.idleMs / 1000).toFixed(1)}s`)
    .join('\n')
}

async function runTail(name: string, flags: TailFlags): Promise<void> {
  const count = parseCount(flags.count)
  const start = parseFrom(flags.from)
  const stop = stopOnSignals()
  try {
    await withStream(name, flags, async (stream, settings, url) => {
      await existingStream(stream, settings, url)
      if (stop.signal.aborted) return
      const reader = await openReader(stream, start, stop.signal, settings, url)
      try {
        await printEvents(reader, count, flags.json === true)
      } finally {
        await reader.close()
      }
    })
  } catch (error) {
    // Stopped while opening: the reader closed under the open, as asked.
    if (!stop.signal.aborted) throw error
  } finally {
    stop.dispose()
  }
}

/** A reader from `start` (resolved now), within the timeout; `signal` closes it, ending the iteration. */
async function openReader(
  stream: Stream,
  start: StartPosition,
  signal: AbortSignal,
  settings: Settings,
  url: string,
): Promise<Reader> {
  const opening = stream.newReader({ start, signal })
  try {
    return await redisRequest(opening, settings, url)
  } catch (error) {
    void opening.then((reader) => reader.close()).catch(() => undefined)
    throw error
  }
}

async function printEvents(reader: Reader, count: number | undefined, json: boolean): Promise<void> {
  let seen = 0
  for await (const event of reader) {
    process.stdout.write(`${json ? JSON.stringify(eventJson(event)) : eventLine(event)}\n`)
    if (count !== undefined && ++seen >= count) break
  }
}

const kUtf8 = new TextDecoder('utf-8', { fatal: true })

/** The payload as text, or `undefined` when it is not UTF-8. */
function payloadText(payload: Buffer): string | undefined {
  try {
    return kUtf8.decode(payload)
  } catch {
    return undefined
  }
}

function eventJson(event: StreamEvent): Record<string, unknown> {
  const text = payloadText(event.payload)
  return {
    id: event.id,
    stream: event.streamName,
    name: event.eventName,
    topic: event.topic ?? null,
    createdAt: event.createdAt.toISOString(),
    ...(text === undefined ? { payloadBase64: event.payload.toString('base64') } : { payload: text }),
  }
}

/** One line whatever the values hold: control characters and line breaks escaped. */
function oneLine(text: string): string {
  return cell(text).replace(/\n/g, '\\n')
}

function eventLine(event: StreamEvent): string {
  const text = payloadText(event.payload)
  const payload = text === undefined ? `base64:${event.payload.toString('base64')}` : oneLine(text)
  const topic = event.topic === undefined ? '' : ` topic=${oneLine(event.topic)}`
  return `${event.id} ${oneLine(event.eventName)}${topic} ${payload}`
}
