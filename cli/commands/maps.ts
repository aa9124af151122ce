/**
 * `pulse maps get` / `set` / `watch`: a replicated map (`actors/rmap`) from the command line. Each
 * command joins the map (a replica of its own, closed when the command ends); keys and values are
 * strings, as the map holds them — a VALUE is stored exactly as given, JSON or not. A key is non-empty
 * and has no `=`.
 *
 * - `get NAME KEY` prints the value (`--json`: `{map, key, value}`); a missing key fails.
 *   `get NAME` prints every key and value (`--json`: `{map, revision, content}`). A map never written
 *   (revision 0, no key) does not exist: both fail with `PULSE_ERR_INVALID_ARG`.
 * - `set NAME KEY VALUE` writes, and prints the previous value (`--json`: `{map, key, value, previous}`,
 *   `previous` null for a new key). A bad key fails before anything is written.
 * - `watch NAME` prints the content, then one line per key that changes, `set <key>=<value>` or
 *   `delete <key>` (`--json`: one JSON object per line, `{type: "content"|"set"|"delete", …}`), until
 *   `--count` changes, Ctrl-C or SIGTERM, which close the replica and exit 0. Notifications coalesce, so
 *   a key set twice in quick succession may show once, with its latest value.
 *
 * Joining and each write are bounded by `--timeout`.
 */
import { Command } from 'commander'

import { ReplicatedMap } from '../../actors/rmap/index.js'
import { InvalidArgumentError } from '../../runtime/errors.js'
import { redisRequest, requireRedis, withConnectionFlags } from '../common/connect.js'
import { parseCount } from '../common/parse.js'
import { stopOnSignals } from '../common/signals.js'
import { cell, printJson, printTable } from '../common/output.js'
import { type ConnectionFlags, resolveSettings, type Settings } from '../common/settings.js'

interface JsonFlags extends ConnectionFlags {
  json?: boolean
}

interface WatchFlags extends JsonFlags {
  count?: string
}

export function mapsCommand(): Command {
  const maps = new Command('maps').description('read, write and watch replicated maps (actors/rmap)')
  maps.addCommand(
    withConnectionFlags(new Command('get'), { redis: true })
      .description('print the value of KEY, or every key and value')
      .argument('<name>', 'the map')
      .argument('[key]', 'the key (default: all of them)')
      .option('--json', 'print one JSON document')
      .action((name: string, key: string | undefined, flags: JsonFlags) => runGet(name, key, flags)),
  )
  maps.addCommand(
    withConnectionFlags(new Command('set'), { redis: true })
      .description('set KEY to VALUE (a string, stored as given); prints the previous value')
      .argument('<name>', 'the map')
      .argument('<key>', 'the key: non-empty, without =')
      .argument('<value>', 'the value, any string')
      .option('--json', 'print one JSON document')
      .action((name: string, key: string, value: string, flags: JsonFlags) => runSet(name, key, value, flags)),
  )
  maps.addCommand(
    withConnectionFlags(new Command('watch'), { redis: true })
      .description('print the content, then each change, until --count changes, Ctrl-C or SIGTERM')
      .argument('<name>', 'the map')
      .option('--count <n>', 'exit after n changes')
      .option('--json', 'print one JSON object per line')
      .action((name: string, flags: WatchFlags) => runWatch(name, flags)),
  )
  return maps
}

/** Joins `name` within the timeout (a join past it is aborted, and cleans up after itself). */
async function joinMap(url: string, name: string, settings: Settings, signal?: AbortSignal): Promise<ReplicatedMap> {
  const abort = new AbortController()
  const onStop = () => abort.abort(signal?.reason)
  signal?.addEventListener('abort', onStop, { once: true })
  try {
    return await redisRequest(ReplicatedMap.join(url, name, { signal: abort.signal }), settings, url)
  } catch (error) {
    abort.abort(error)
    throw error
  } finally {
    signal?.removeEventListener('abort', onStop)
  }
}

/** Runs `fn` with the map `name` joined; the replica closes after. */
async function withMap<T>(
  name: string,
  flags: ConnectionFlags,
  fn: (map: ReplicatedMap, settings: Settings, url: string) => T | Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const settings = await resolveSettings(flags)
  const url = requireRedis(settings)
  const map = await joinMap(url, name, settings, signal)
  let result: T
  try {
    result = await fn(map, settings, url)
  } catch (error) {
    // Not awaited: after a timeout the connection may take its own close bound to go, and the failure
    // is reported now (the CLI's exit does not wait for it either).
    void map.close().catch(() => undefined)
    throw error
  }
  await map.close()
  return result
}

function requireExisting(map: ReplicatedMap): void {
  if (map.revision === 0 && map.size === 0) {
    throw new InvalidArgumentError(`map ${JSON.stringify(map.name)} does not exist (nothing was ever written to it)`, {
      data: { option: 'name' },
    })
  }
}

async function runGet(name: string, key: string | undefined, flags: JsonFlags): Promise<void> {
  await withMap(name, flags, (map) => {
    requireExisting(map)
    if (key === undefined) printContent(map, flags.json === true)
    else printValue(map, key, flags.json === true)
  })
}

function printContent(map: ReplicatedMap, json: boolean): void {
  if (json) printJson(contentOf(map))
  else printTable(['key', 'value'], Object.entries(map.toObject()))
}

function printValue(map: ReplicatedMap, key: string, json: boolean): void {
  const value = map.get(key)
  if (value === undefined) {
    throw new InvalidArgumentError(`map ${JSON.stringify(map.name)} has no key ${JSON.stringify(key)}`, {
      data: { option: 'key' },
    })
  }
  if (json) printJson({ map: map.name, key, value })
  else process.stdout.write(`${oneLine(value)}\n`)
}

async function runSet(name: string, key: string, value: string, flags: JsonFlags): Promise<void> {
  await withMap(name, flags, async (map, settings, url) => {
    const previous = await redisRequest(map.set(key, value), settings, url)
    if (flags.json === true) printJson({ map: map.name, key, value, previous: previous ?? null })
    else process.stdout.write(previous === undefined ? 'new key\n' : `previous: ${oneLine(previous)}\n`)
  })
}

/** One line whatever the value holds: control characters and line breaks escaped. */
function oneLine(text: string): string {
  return cell(text).replace(/\n/g, '\\n')
}

type Change =
  | { type: 'set'; key: string; value: string; previous: string | undefined }
  | { type: 'delete'; key: string; previous: string }

/** What differs from `before` to `after`, key by key: sets first, then deletes. */
function changes(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): Change[] {
  const out: Change[] = []
  for (const [key, value] of after) {
    const previous = before.get(key)
    if (previous !== value) out.push({ type: 'set', key, value, previous })
  }
  for (const [key, previous] of before) if (!after.has(key)) out.push({ type: 'delete', key, previous })
  return out
}

function changeLine(map: ReplicatedMap, change: Change, json: boolean): string {
  if (json) {
    return JSON.stringify({
      type: change.type,
      map: map.name,
      revision: map.revision,
      key: change.key,
      ...(change.type === 'set' ? { value: change.value } : {}),
      previous: change.previous ?? null,
    })
  }
  // A key never holds '=', so `key=value` reads back unambiguously.
  return change.type === 'set' ? `set ${oneLine(change.key)}=${oneLine(change.value)}` : `delete ${oneLine(change.key)}`
}

async function runWatch(name: string, flags: WatchFlags): Promise<void> {
  const count = parseCount(flags.count)
  const json = flags.json === true
  const stop = stopOnSignals()
  try {
    await withMap(
      name,
      flags,
      async (map) => {
        // Subscribed before the content is read: no change falls between the two.
        const feed = map.subscribe()
        stop.signal.addEventListener('abort', () => void feed.return(), { once: true })
        if (stop.signal.aborted) return
        let shown = new Map(Object.entries(map.toObject()))
        if (json) process.stdout.write(`${JSON.stringify({ type: 'content', ...contentOf(map) })}\n`)
        else printTable(['key', 'value'], [...shown])
        let printed = 0
        for await (const _kind of feed) {
          const now = new Map(Object.entries(map.toObject()))
          for (const change of changes(shown, now)) {
            process.stdout.write(`${changeLine(map, change, json)}\n`)
            if (count !== undefined && ++printed >= count) return
          }
          shown = now
        }
      },
      stop.signal,
    )
  } catch (error) {
    // Stopped while joining: the join was aborted, as asked.
    if (!stop.signal.aborted) throw error
  } finally {
    stop.dispose()
  }
}

function contentOf(map: ReplicatedMap): { map: string; revision: number; content: Record<string, string> } {
  return { map: map.name, revision: map.revision, content: map.toObject() }
}
