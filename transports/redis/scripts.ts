/**
 * Lua scripts run by SHA: `defineScript({ name, lua, numberOfKeys })` → `script.run(client, keys, args)`.
 *
 * `run` sends EVALSHA with the SHA1 of the source, computed here once. The first run of a script on a
 * connection (and the first after it reconnected) sends SCRIPT LOAD and EVALSHA back to back, so the
 * script runs where it was called in the connection's order of commands: a write sent after it cannot
 * overtake it. When the server still answers `NOSCRIPT` (a SCRIPT FLUSH, a restart the connection did not
 * see) it loads the source and sends EVALSHA once more — that retry runs after whatever was sent
 * meanwhile. Only the SHA travels on the hot path, and SCRIPT LOAD keeps the script in the server's cache
 * (scripts that arrive through EVAL can be evicted since Redis 7.4). On a cluster, whose SCRIPT LOAD goes
 * to any node, the first run and the NOSCRIPT retry send EVAL to the keys' node instead.
 *
 * Failures are typed like every command's (`errors.ts`). A script can fail with its own reply prefix,
 * `return redis.error_reply('LEASELOST job 7')`, which arrives as a `RedisCommandError` with
 * `data.reply === 'LEASELOST'` (unknown prefixes are not retryable).
 *
 * Conventions (after BullMQ):
 * - A script is named `<command>-<numKeys>`, e.g. `claimJob-2`: the number of KEYS is part of the name,
 *   and `defineScript` checks that it matches `numberOfKeys`.
 * - Its source opens with a header stating its contract: every KEYS and ARGV entry, the reply and the
 *   error replies. Every key a script touches is passed in KEYS (cluster slots, ACLs, key prefixes).
 *
 *     --[[
 *       claimJob-2: moves the oldest waiting job to the active set under a lease.
 *         KEYS[1]  wait list          pulse:jobs:{<queue>}:wait
 *         KEYS[2]  active sorted set  pulse:jobs:{<queue>}:active   (score = lease expiry, ms)
 *         ARGV[1]  lease token
 *         ARGV[2]  lease expiry, ms since the epoch
 *       Reply: the job id, or nil when nothing waits.
 *       Errors: none of its own.
 *     ]]
 */
import { createHash } from 'node:crypto'

import type { Cluster, Redis } from 'ioredis'

import { InvalidArgumentError, PulseError } from '../../runtime/errors.js'
import { checkInteger, checkString } from '../../runtime/options.js'
import { isClusterClient, PulseRedis } from './connection.js'
import { classifyRedisError, mapRedisError } from './errors.js'

/** What a script runs on: an ioredis client (one server or a cluster) or a `PulseRedis`. */
export type ScriptClient = Redis | Cluster | PulseRedis

export type ScriptKey = string | Buffer
export type ScriptArg = string | Buffer | number

export interface ScriptDefinition {
  /** `<command>-<numKeys>`, e.g. `claimJob-2`. */
  name: string
  /** The Lua source, starting with its header comment. */
  lua: string
  numberOfKeys: number
}

export interface RedisScript {
  readonly name: string
  readonly lua: string
  readonly numberOfKeys: number
  /** SHA1 of `lua`, hex: the name the server caches the script under. */
  readonly sha: string
  /** Runs the script; bulk replies arrive as strings. */
  run(client: ScriptClient, keys: readonly ScriptKey[], args?: readonly ScriptArg[]): Promise<unknown>
  /** Runs the script; bulk replies arrive as Buffers. */
  runBuffer(client: ScriptClient, keys: readonly ScriptKey[], args?: readonly ScriptArg[]): Promise<unknown>
}

const kScriptName = /^[a-z][A-Za-z0-9]*-(\d+)$/

/** Per connection, the SHAs of the scripts it loaded; forgotten when it reconnects. */
const kLoaded = new WeakMap<Redis | Cluster, Set<string>>()

function loadedOn(redis: Redis | Cluster): Set<string> {
  let loaded = kLoaded.get(redis)
  if (loaded === undefined) {
    const created = new Set<string>()
    redis.on('ready', () => created.clear())
    kLoaded.set(redis, created)
    loaded = created
  }
  return loaded
}

export function sha1(source: string): string {
  return createHash('sha1').update(source).digest('hex')
}

export function defineScript(definition: ScriptDefinition): RedisScript {
  const name = checkString(definition.name, 'definition.name', { pattern: kScriptName })
  const lua = checkString(definition.lua, 'definition.lua', { nonEmpty: true })
  const numberOfKeys = checkInteger(definition.numberOfKeys, 'definition.numberOfKeys', { min: 0 })
  if (name.slice(name.lastIndexOf('-') + 1) !== String(numberOfKeys)) {
    throw new InvalidArgumentError(
      `definition.name must end with -${numberOfKeys}, the number of keys (got "${name}")`,
      {
        data: { option: 'definition.name' },
      },
    )
  }
  const sha = sha1(lua)

  const evalsha = (
    redis: Redis,
    buffers: boolean,
    keys: readonly ScriptKey[],
    args: readonly ScriptArg[],
  ): Promise<unknown> =>
    buffers
      ? redis.callBuffer('evalsha', [sha, numberOfKeys, ...keys, ...args])
      : redis.evalsha(sha, numberOfKeys, ...keys, ...args)

  // A cluster routes SCRIPT LOAD to any node, not the keys' one; EVAL goes there and caches the script.
  const evalSource = async (
    redis: Redis,
    buffers: boolean,
    keys: readonly ScriptKey[],
    args: readonly ScriptArg[],
  ): Promise<unknown> => {
    try {
      return await (buffers
        ? redis.callBuffer('eval', [lua, numberOfKeys, ...keys, ...args])
        : redis.eval(lua, numberOfKeys, ...keys, ...args))
    } catch (error) {
      throw mapRedisError(error, 'eval')
    }
  }

  /** SCRIPT LOAD and EVALSHA sent back to back: the script runs in its place in the connection's order. */
  const loadAndRun = async (
    redis: Redis,
    loaded: Set<string>,
    buffers: boolean,
    keys: readonly ScriptKey[],
    args: readonly ScriptArg[],
  ): Promise<unknown> => {
    const [load, run] = await Promise.allSettled([redis.script('LOAD', lua), evalsha(redis, buffers, keys, args)])
    if (load.status === 'rejected') throw mapRedisError(load.reason, 'script')
    if (load.value !== sha) {
      throw new PulseError(
        'PULSE_ERR_INTERNAL',
        `SCRIPT LOAD of ${name} answered ${String(load.value)}, expected ${sha}`,
      )
    }
    loaded.add(sha)
    if (run.status === 'rejected') throw mapRedisError(run.reason, 'evalsha')
    return run.value
  }

  const execute = async (
    client: ScriptClient,
    buffers: boolean,
    keys: readonly ScriptKey[],
    args: readonly ScriptArg[] = [],
  ): Promise<unknown> => {
    if (keys.length !== numberOfKeys) {
      throw new InvalidArgumentError(`script ${name} takes ${numberOfKeys} keys (got ${keys.length})`, {
        data: { script: name, keys: keys.length },
      })
    }
    const redis: Redis = client instanceof PulseRedis ? client.client : (client as Redis)
    const clustered = client instanceof PulseRedis ? client.cluster : isClusterClient(client)
    const loaded = loadedOn(redis)
    if (!loaded.has(sha)) {
      if (!clustered) return loadAndRun(redis, loaded, buffers, keys, args)
      const reply = await evalSource(redis, buffers, keys, args)
      loaded.add(sha)
      return reply
    }
    try {
      return await evalsha(redis, buffers, keys, args)
    } catch (error) {
      const mapped = mapRedisError(error, 'evalsha')
      if (classifyRedisError(mapped).reply !== 'NOSCRIPT') throw mapped
    }
    if (clustered) return evalSource(redis, buffers, keys, args)
    return loadAndRun(redis, loaded, buffers, keys, args)
  }

  return Object.freeze({
    name,
    lua,
    numberOfKeys,
    sha,
    run: (client: ScriptClient, keys: readonly ScriptKey[], args?: readonly ScriptArg[]) =>
      execute(client, false, keys, args),
    runBuffer: (client: ScriptClient, keys: readonly ScriptKey[], args?: readonly ScriptArg[]) =>
      execute(client, true, keys, args),
  })
}
