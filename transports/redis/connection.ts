/**
 * The Redis connection every feature uses: `createRedis(urlOrClient)` → `PulseRedis`.
 *
 * - `client` runs ordinary commands. Its failures reach callers typed (see `errors.ts`):
 *   `RedisCommandError` for an error reply, `RedisConnectionError` when the connection is down, with the
 *   ioredis error as `cause`. Pipelines and MULTI are mapped too: each `[err, result]` pair of a
 *   pipeline, an EXECABORT, and the per-command errors inside an EXEC reply.
 * - `blocking()` is a second connection, made on first use, for XREADGROUP BLOCK / BLPOP, so that a
 *   blocking read never holds up the commands on `client`. `close()` cancels pending blocking reads by
 *   disconnecting it (they reject with `ClosedError`).
 * - `close()` follows the house contract (`runtime/lifecycle.ts`): idempotent, memoised, bounded by
 *   `closeTimeoutMs` (then the connections are dropped and `close()` rejects with `CloseTimeoutError`);
 *   `destroy()` drops them at once. Commands sent through a closing or closed `PulseRedis` reject with
 *   `ClosedError`.
 *
 * Connection policy of a client built from a URL (`DEFAULT_REDIS_CLIENT_OPTIONS`):
 * - It reconnects for ever, with exponential backoff (`reconnectMinDelayMs` doubling up to
 *   `reconnectMaxDelayMs`, with jitter).
 * - A command issued while disconnected waits in the offline queue through at most
 *   `maxRetriesPerRequest` reconnect attempts, so a short blip goes unnoticed. After that it fails with
 *   `RedisConnectionError`, and so does, at once, every command issued while the outage lasts (ioredis
 *   alone would queue it again for another `maxRetriesPerRequest` attempts). The same client works
 *   again as soon as the server is back; nothing is recreated.
 * - A command already sent when the connection drops is not sent again (it may have run: a second run
 *   of an `inc` or an XADD would count twice): it fails with `RedisConnectionError`, and its caller
 *   decides whether to retry.
 * - An `'error'` listener is attached, so an unreachable server never surfaces as an unhandled
 *   `'error'` event; the last socket error becomes the `cause` of the fail-fast `RedisConnectionError`.
 *
 * Why a wrapper and not a subclass of ioredis `Redis`: `PulseRedis` owns up to two connections, and it
 * must also wrap a client it did not create (callers may pass their own), which it may not quit. The error
 * mapping has to sit on the send path, where every command — direct, pipelined, MULTI, script — passes
 * through `sendCommand(command)` and settles through `command.reject`. It sits there in two ways: the
 * clients created here are a small private subclass (`GuardedRedis`) overriding `sendCommand`; a client
 * passed in is left untouched and `client` is a Proxy of it whose `sendCommand` is the guarded one, so
 * its owner keeps plain ioredis behaviour and sees no listener or option of ours.
 */
import type { RedisOptions } from 'ioredis'
import { Cluster, Command, Redis } from 'ioredis'

import { backoffMs } from '../../runtime/backoff.js'
import { ClosedError, coerceError, InvalidArgumentError, RedisConnectionError } from '../../runtime/errors.js'
import { Destroyable, withTimeout } from '../../runtime/lifecycle.js'
import type { LifecycleState } from '../../runtime/lifecycle.js'
import { checkDurationMs, checkInteger, checkKnownKeys, checkString, resolveOptions } from '../../runtime/options.js'
import { trackResource } from '../../runtime/resource-tracker.js'
import { clusterUrlOf, isClusterUrl, parseClusterUrl } from './cluster-url.js'
import { mapRedisError } from './errors.js'

export interface RedisClientOptions {
  /**
   * Names the connections (`CLIENT SETNAME <name>` and `<name>:blocking`, for a client built from a URL)
   * and the object in error messages.
   * @default 'pulse'
   */
  name?: string
  /** Bound of a graceful `close()`. @default 2000 */
  closeTimeoutMs?: number
  /** URL only. Bound of one connection attempt. @default 2000 */
  connectTimeoutMs?: number
  /** URL only. Reconnect attempts a command waits through before it fails. @default 2 */
  maxRetriesPerRequest?: number
  /** URL only. First reconnect delay; it doubles on each failed attempt. @default 50 */
  reconnectMinDelayMs?: number
  /** URL only. Longest reconnect delay. @default 2000 */
  reconnectMaxDelayMs?: number
  /**
   * URL only. More ioredis options (TLS, credentials, `db`, `keyPrefix`…), applied over Pulse's. Changing
   * `lazyConnect`, `enableOfflineQueue`, `maxRetriesPerRequest` or `retryStrategy` here voids the
   * connection policy described above.
   */
  ioredis?: RedisOptions
}

export type ResolvedRedisClientOptions = Required<Omit<RedisClientOptions, 'ioredis'>> & { ioredis: RedisOptions }

export const DEFAULT_REDIS_CLIENT_OPTIONS = {
  name: 'pulse',
  closeTimeoutMs: 2_000,
  connectTimeoutMs: 2_000,
  maxRetriesPerRequest: 2,
  reconnectMinDelayMs: 50,
  reconnectMaxDelayMs: 2_000,
  ioredis: {},
} as const satisfies ResolvedRedisClientOptions

const kUrlOnlyOptions = [
  'connectTimeoutMs',
  'maxRetriesPerRequest',
  'reconnectMinDelayMs',
  'reconnectMaxDelayMs',
  'ioredis',
] as const
const kAllOptions = ['name', 'closeTimeoutMs', ...kUrlOnlyOptions] as const

/** ioredis destroys a socket that has not closed this long after `disconnect()` (its default is 2 s). */
const kDisconnectTimeoutMs = 1_000

/**
 * Delay before reconnect attempt `attempt` (1, 2, …): `minMs` doubling up to `maxMs`, then drawn from
 * its upper half ("equal jitter"), so that many clients do not reconnect in step.
 */
export function reconnectDelayMs(attempt: number, minMs: number, maxMs: number): number {
  return backoffMs(attempt, { baseMs: minMs, maxMs, jitter: true })
}

type WriteableStream = Parameters<Redis['sendCommand']>[1]
type Send = (command: Command, stream: WriteableStream) => unknown

/** What a guard needs from its `PulseRedis`. */
interface GuardOwner {
  readonly name: string
  readonly state: LifecycleState
  /** Throws `ClosedError` unless open. */
  assertOpen(what: string): void
}

/**
 * The send path of one client: maps its failures to typed errors, refuses commands once the owner is
 * closing, and fails fast once an outage has outlasted `maxRetriesPerRequest` reconnect attempts. It
 * follows the client's status through its events; `detach()` removes its listeners.
 */
class ClientGuard {
  readonly label: string
  readonly #client: Redis
  readonly #owner: GuardOwner
  /** Commands already guarded: ioredis sends a command again after a reconnect. */
  readonly #guarded = new WeakSet<Command>()
  readonly #listeners: [event: string, listener: (arg: unknown) => void][] = []
  /** Failed connection attempts since the client was last ready (ioredis' private `retryAttempts`). */
  #failedAttempts = 0
  #lastError: Error | undefined

  constructor(client: Redis, owner: GuardOwner, listenForErrors: boolean) {
    this.#client = client
    this.#owner = owner
    this.label = describeClient(client)
    this.#listen('reconnecting', () => {
      this.#failedAttempts += 1
    })
    this.#listen('ready', () => {
      this.#failedAttempts = 0
      this.#lastError = undefined
    })
    if (listenForErrors) {
      this.#listen('error', (error) => {
        this.#lastError = coerceError(error)
      })
    }
  }

  #listen(event: string, listener: (arg: unknown) => void): void {
    this.#client.on(event, listener)
    this.#listeners.push([event, listener])
  }

  detach(): void {
    for (const [event, listener] of this.#listeners) this.#client.off(event, listener)
    this.#listeners.length = 0
  }

  send(command: Command, stream: WriteableStream, send: Send): unknown {
    if (!this.#guarded.has(command)) {
      this.#guarded.add(command)
      this.#guard(command)
      const refusal = this.#refusal(command.name)
      if (refusal !== undefined) {
        command.reject(refusal)
        return command.promise
      }
    }
    return send(command, stream)
  }

  #guard(command: Command): void {
    const reject = command.reject
    command.reject = (error: Error) => reject.call(command, this.#map(error, command.name))
    if (command.name === 'exec') {
      // The replies of a transaction's commands arrive inside the EXEC reply, errors included.
      const resolve = command.resolve
      command.resolve = (reply: unknown) => {
        const mapped = Array.isArray(reply)
          ? reply.map((item: unknown) => (item instanceof Error ? mapRedisError(item) : item))
          : reply
        return resolve.call(command, mapped)
      }
    }
  }

  #map(error: Error, command: string): Error {
    const mapped = mapRedisError(error, command)
    if (this.#owner.state !== 'open' && mapped instanceof RedisConnectionError) {
      // The connection went down because the owner closed it (a blocking read, a queued command).
      return new ClosedError(`${command} cancelled: ${this.#owner.name} is ${this.#owner.state}`, {
        cause: error,
        data: { name: this.#owner.name, command },
      })
    }
    return mapped
  }

  #refusal(command: string): Error | undefined {
    const status = this.#client.status
    // A new connection's handshake (ready check, AUTH, SELECT…) is never refused.
    if (status === 'connect' && Command.checkFlag('HANDSHAKE_COMMANDS', command)) return undefined
    if (this.#owner.state !== 'open' && command !== 'quit') {
      try {
        this.#owner.assertOpen(`send ${command}`)
      } catch (error) {
        return coerceError(error)
      }
    }
    const limit = this.#client.options.maxRetriesPerRequest
    const down = status === 'reconnecting' || status === 'connecting' || status === 'close'
    if (down && typeof limit === 'number' && limit >= 0 && this.#failedAttempts > limit) {
      return new RedisConnectionError(
        `Redis ${this.label} is unreachable: ${this.#failedAttempts} connection attempts failed since it was last ready`,
        {
          ...(this.#lastError === undefined ? {} : { cause: this.#lastError }),
          data: { command, attempts: this.#failedAttempts },
        },
      )
    }
    return undefined
  }
}

/** `host:port` or the socket path, never credentials. */
function describeClient(client: Redis): string {
  if (isClusterClient(client)) return 'cluster'
  const options = client.options
  if (typeof options.path === 'string' && options.path !== '') return options.path
  return `${options.host ?? 'localhost'}:${options.port ?? 6379}`
}

/** The clients this module creates: ioredis `Redis` with a guarded `sendCommand`. */
class GuardedRedis extends Redis {
  readonly guard: ClientGuard

  constructor(url: string | undefined, options: RedisOptions, owner: GuardOwner) {
    // ioredis 6 types its constructors per reply mapping; Pulse's clients use the default ('legacy').
    const legacy = options as RedisOptions & { replyMapping?: 'legacy' }
    if (url === undefined) super(legacy)
    else super(url, legacy)
    this.guard = new ClientGuard(this, owner, true)
  }

  override sendCommand(command: Command, stream?: WriteableStream): unknown {
    // `guard` is unset only while ioredis' own constructor runs, which sends nothing.
    const guard = this.guard as ClientGuard | undefined
    if (guard === undefined) return super.sendCommand(command, stream)
    return guard.send(command, stream, (c, s) => super.sendCommand(c, s))
  }
}

/** ioredis members that `forceDisconnect` needs; private in its typings. */
interface IoredisInternals {
  reconnectTimeout?: NodeJS.Timeout | null
  setStatus?: (status: 'end') => void
  flushQueue?: (error: Error) => void
}

/**
 * Drops the connection now. ioredis' `disconnect()` does nothing useful while the client waits to
 * reconnect (status 'reconnecting', or 'close' before the retry is scheduled): the status stays so for
 * ever, 'end' never comes and queued commands never settle (redis/ioredis PR #2169). In that state this
 * does what ioredis' close handler would.
 */
export function forceDisconnect(client: Redis | Cluster): void {
  if (client.status === 'end') return
  if (isClusterClient(client)) return client.disconnect()
  const internals = client as unknown as IoredisInternals
  if (
    (client.status === 'reconnecting' || client.status === 'close') &&
    typeof internals.setStatus === 'function' &&
    typeof internals.flushQueue === 'function'
  ) {
    if (internals.reconnectTimeout != null) clearTimeout(internals.reconnectTimeout)
    internals.reconnectTimeout = null
    internals.setStatus.call(client, 'end')
    internals.flushQueue.call(client, new Error('Connection is closed.'))
    return
  }
  client.disconnect()
}

/** Resolves once the client is 'end' (its socket closed), or after `ms` (when given) regardless. */
function whenEnded(client: Redis, ms?: number): Promise<void> {
  if (client.status === 'end') return Promise.resolve()
  let onEnd: () => void = () => {}
  const ended = new Promise<void>((resolve) => {
    onEnd = resolve
    client.once('end', onEnd)
  })
  if (ms === undefined) return ended
  return withTimeout(ended, ms, () => new Error('not ended')).catch(() => {
    client.off('end', onEnd)
  })
}

function invalid(option: string, message: string): never {
  throw new InvalidArgumentError(`${option} ${message}`, { data: { option } })
}

function validateOptions(options: RedisClientOptions, fromUrl: boolean): ResolvedRedisClientOptions {
  checkKnownKeys(options, kAllOptions)
  if (!fromUrl) {
    const key = kUrlOnlyOptions.find((k) => options[k] !== undefined)
    if (key !== undefined) invalid(`options.${key}`, 'applies only to a URL (a client passed in is used as configured)')
  }
  if (options.name !== undefined) checkString(options.name, 'options.name', { pattern: /^[!-~]+$/ })
  if (options.closeTimeoutMs !== undefined)
    checkDurationMs(options.closeTimeoutMs, 'options.closeTimeoutMs', { min: 1 })
  if (options.connectTimeoutMs !== undefined)
    checkDurationMs(options.connectTimeoutMs, 'options.connectTimeoutMs', { min: 1 })
  if (options.maxRetriesPerRequest !== undefined)
    checkInteger(options.maxRetriesPerRequest, 'options.maxRetriesPerRequest', { min: 0 })
  if (options.reconnectMinDelayMs !== undefined)
    checkDurationMs(options.reconnectMinDelayMs, 'options.reconnectMinDelayMs', { min: 1 })
  if (options.reconnectMaxDelayMs !== undefined)
    checkDurationMs(options.reconnectMaxDelayMs, 'options.reconnectMaxDelayMs', { min: 1 })
  if (options.ioredis !== undefined && (typeof options.ioredis !== 'object' || options.ioredis === null)) {
    invalid('options.ioredis', 'must be an object of ioredis options')
  }
  const resolved = resolveOptions<ResolvedRedisClientOptions>(DEFAULT_REDIS_CLIENT_OPTIONS, options)
  if (resolved.reconnectMinDelayMs > resolved.reconnectMaxDelayMs) {
    invalid('options.reconnectMinDelayMs', `must be <= options.reconnectMaxDelayMs (${resolved.reconnectMaxDelayMs})`)
  }
  return resolved
}

/** What a feature accepts as its Redis: a URL (`redis://`, `rediss://`, `redis-cluster://`…), a socket path, or a client. */
export type RedisSource = string | Redis | Cluster

/** A `RedisSource`, or a `PulseRedis` to share (a feature given one leaves it open). */
export type RedisSourceOrConnection = RedisSource | PulseRedis

/**
 * An ioredis client of any copy and major (5 or 6): recognised by what it can do, not by its class,
 * since the application's ioredis is often not Pulse's own copy. A `Cluster` is not one.
 */
export function isRedisClient(value: unknown): value is Redis {
  if (typeof value !== 'object' || value === null) return false
  const client = value as Record<string, unknown>
  return (
    typeof client.sendCommand === 'function' &&
    typeof client.duplicate === 'function' &&
    typeof client.status === 'string' &&
    typeof client.options === 'object' &&
    client.options !== null &&
    client.isCluster !== true
  )
}

/** An ioredis `Cluster` client (of any copy). */
export function isClusterClient(value: unknown): value is Cluster {
  if (typeof value !== 'object' || value === null) return false
  const client = value as Record<string, unknown>
  return client.isCluster === true && typeof client.nodes === 'function'
}

/** Whether `source` (a URL, a client or a `PulseRedis`) reaches a Redis Cluster; an invalid one is not. */
export function isClusterSource(source: RedisSourceOrConnection | undefined): boolean {
  if (source instanceof PulseRedis) return source.cluster
  return isClusterClient(source) || (typeof source === 'string' && isClusterUrl(source))
}

/** `source` as a URL, socket path or ioredis client (`Redis` or `Cluster`); anything else is `PULSE_ERR_INVALID_ARG`. */
export function checkRedisSource(source: unknown): RedisSource {
  if (isRedisClient(source) || isClusterClient(source)) return source
  if (typeof source !== 'string') invalid('source', 'must be a Redis URL or an ioredis Redis or Cluster client')
  if (source.startsWith('/')) return source // a unix socket path
  if (isClusterUrl(source)) {
    parseClusterUrl(source) // throws on a malformed one
    return source
  }
  let protocol: string | undefined
  try {
    protocol = new URL(source).protocol
  } catch {
    protocol = undefined
  }
  // The URL itself is not shown: it may hold a password.
  if (protocol !== 'redis:' && protocol !== 'rediss:')
    invalid('source', 'must be a redis://, rediss:// or redis-cluster:// URL, or a unix socket path')
  return source
}

/** Builds the connection policy described in the module comment. */
function urlClientOptions(options: ResolvedRedisClientOptions): RedisOptions {
  const { reconnectMinDelayMs: min, reconnectMaxDelayMs: max } = options
  return {
    lazyConnect: false,
    enableOfflineQueue: true,
    // A command whose reply a dropped connection lost may have run: sent again, a non-idempotent one
    // (an `inc`, an XADD) would run twice while its caller sees one success. It fails instead, with a
    // retryable RedisConnectionError, and the caller decides.
    autoResendUnfulfilledCommands: false,
    enableReadyCheck: true,
    maxRetriesPerRequest: options.maxRetriesPerRequest,
    connectTimeout: options.connectTimeoutMs,
    disconnectTimeout: kDisconnectTimeoutMs,
    retryStrategy: (attempt: number) => reconnectDelayMs(attempt, min, max),
    connectionName: options.name,
    ...options.ioredis,
  }
}

/** The options of a Cluster built from a `redis-cluster://` URL: the policy above, per node. */
type ClusterClientOptions = NonNullable<ConstructorParameters<typeof Cluster>[1]>

function clusterClientOptions(url: string, options: ResolvedRedisClientOptions): ClusterClientOptions {
  const address = parseClusterUrl(url)
  const { reconnectMinDelayMs: min, reconnectMaxDelayMs: max } = options
  const { retryStrategy: _retry, lazyConnect: _lazy, replyMapping: _mapping, ...perNode } = urlClientOptions(options)
  // ioredis 6 types its options per reply mapping; Pulse's clients use the default ('legacy').
  const legacy: Omit<ClusterClientOptions, 'replyMapping'> = {
    clusterRetryStrategy: (attempt: number) => reconnectDelayMs(attempt, min, max),
    enableOfflineQueue: true,
    enableReadyCheck: true,
    scaleReads: 'master' as const,
    redisOptions: {
      ...perNode,
      ...(address.username === undefined ? {} : { username: address.username }),
      ...(address.password === undefined ? {} : { password: address.password }),
      ...(address.tls ? { tls: {} } : {}),
    },
  }
  return legacy
}

/**
 * One Redis connection for commands and, on demand, one for blocking reads. Build it with
 * `createRedis()`; see the module comment.
 */
export class PulseRedis extends Destroyable {
  /**
   * The connection for ordinary commands; its failures are typed. Do not quit it: close this object.
   * On a cluster it is a `Cluster` (typed as a `Redis`: the commands the features send are the same).
   */
  readonly client: Redis
  /** Whether `client` is a Redis Cluster client. */
  readonly cluster: boolean
  readonly name: string
  /** Whether this object created `client` (and so quits it on close). */
  readonly ownsClient: boolean
  readonly #guards: ClientGuard[] = []
  /** Every client this object created, with the function that stops tracking it. */
  readonly #created: { client: Redis; untrack: () => void }[] = []
  #blocking: Redis | undefined

  constructor(source: RedisSource, options: RedisClientOptions = {}) {
    const checked = checkRedisSource(source)
    const fromUrl = typeof checked === 'string'
    const resolved = validateOptions(options, fromUrl)
    super({ name: `Redis connection "${resolved.name}"`, closeTimeoutMs: resolved.closeTimeoutMs })
    this.name = resolved.name
    this.ownsClient = fromUrl
    this.cluster = isClusterClient(checked) || (typeof checked === 'string' && isClusterUrl(checked))
    if (typeof checked === 'string' && isClusterUrl(checked)) {
      this.client = this.#createCluster(
        'main',
        new Cluster([...parseClusterUrl(checked).nodes], clusterClientOptions(checked, resolved)),
      )
    } else if (typeof checked === 'string') {
      const options = urlClientOptions(resolved)
      this.client = checked.startsWith('/')
        ? this.#create('main', undefined, { ...options, path: checked })
        : this.#create('main', checked, options)
    } else {
      this.client = this.#wrap(checked as Redis, false)
    }
  }

  /**
   * The connection for blocking reads (XREADGROUP BLOCK, BLPOP…), made on first call with the options of
   * `client`. Throws `ClosedError` once closing.
   */
  blocking(): Redis {
    this.assertOpen('open a blocking connection')
    if (this.#blocking === undefined && this.cluster) {
      this.#blocking = this.#createCluster(
        'blocking',
        (this.client as unknown as Cluster).duplicate([], { enableAutoPipelining: false }),
      )
    }
    if (this.#blocking === undefined) {
      const base = this.client.options
      this.#blocking = this.#create('blocking', undefined, {
        ...base,
        lazyConnect: false,
        enableAutoPipelining: false,
        disconnectTimeout: kDisconnectTimeoutMs,
        ...(this.ownsClient ? { connectionName: `${this.name}:blocking` } : {}),
      })
    }
    return this.#blocking
  }

  #create(role: 'main' | 'blocking', url: string | undefined, options: RedisOptions): Redis {
    const client = new GuardedRedis(url, options, this.lifecycle)
    this.#guards.push(client.guard)
    const label = `${role === 'main' ? this.name : `${this.name}:blocking`} ${client.guard.label}`
    this.#created.push({ client, untrack: trackResource('redis', label) })
    return client
  }

  /** Guards and tracks a Cluster this object made; it is returned as the `Redis` the features use. */
  #createCluster(role: 'main' | 'blocking', cluster: Cluster): Redis {
    const client = cluster as unknown as Redis
    const label = `${role === 'main' ? this.name : `${this.name}:blocking`} cluster`
    this.#created.push({ client, untrack: trackResource('redis', label) })
    return this.#wrap(client, true)
  }

  /** A view of a client whose `sendCommand` is guarded; the client itself is not changed. */
  #wrap(client: Redis, listenForErrors: boolean): Redis {
    const guard = new ClientGuard(client, this.lifecycle, listenForErrors)
    this.#guards.push(guard)
    // A Cluster's pipeline passes a third argument, the node its batch goes to (without it the batch is
    // written to no connection); it is passed on, typed as an empty tuple since ioredis types two parameters.
    const send = function (this: Redis, command: Command, stream?: WriteableStream, ...rest: unknown[]): unknown {
      return guard.send(command, stream, (c, s) => client.sendCommand.call(this, c, s, ...(rest as [])))
    }
    return new Proxy(client, {
      get: (target, key, receiver) => (key === 'sendCommand' ? send : (Reflect.get(target, key, receiver) as unknown)),
    })
  }

  /** Cancels blocking reads, lets pending commands finish and quits what this object created. */
  protected async onClose(): Promise<void> {
    // Blocking reads would hold a QUIT up until they time out: cancel them by dropping their connection.
    const blocking = this.#blocking
    if (blocking !== undefined) forceDisconnect(blocking)
    const main = this.ownsClient ? this.client : undefined
    if (main !== undefined) {
      if (main.status === 'reconnecting') {
        // The server is known to be down: commands still queued for it get ClosedError.
        forceDisconnect(main)
      } else if (main.status !== 'end') {
        // QUIT is answered after the replies of every command sent before it; while (re)connecting it
        // waits in the offline queue behind them, or disconnects at once when nothing is queued.
        await main.quit().catch(() => forceDisconnect(main))
      }
    }
    // Bounded by closeTimeoutMs: the lifecycle destroys the connections when it elapses.
    await this.#release()
  }

  /** Drops the connections this object created, without waiting for pending replies. */
  protected override async onDestroy(): Promise<void> {
    for (const { client } of this.#created) forceDisconnect(client)
    await this.#release(kDisconnectTimeoutMs + 500)
  }

  /** Waits (up to `ms`, when given) for the created clients to end, then forgets them. */
  async #release(ms?: number): Promise<void> {
    await Promise.all(this.#created.map(({ client }) => whenEnded(client, ms)))
    for (const guard of this.#guards) guard.detach()
    for (const { untrack } of this.#created) untrack()
  }
}

/**
 * From a URL (`redis://`, `rediss://`, or a unix socket path), creates and owns a client with the
 * connection policy of the module comment. From an ioredis client, wraps it without owning it: `close()`
 * does not quit it, its options are left as they are (only `name` and `closeTimeoutMs` apply), and
 * `client` is a typed-error view of it (a Proxy, so `redis.client !== yourClient`). Its `blocking()`
 * connection is a new client made with the same options, owned and closed by the `PulseRedis`.
 */
export function createRedis(source: RedisSource, options?: RedisClientOptions): PulseRedis {
  return new PulseRedis(source, options)
}

/**
 * A URL that reaches the same server as `source` (a URL is returned as it is), for code that must
 * connect from another thread, where an ioredis client cannot go. Host, port or socket path, user,
 * password, database and TLS (as `rediss:`, with default TLS options) are carried over; a unix socket
 * path is returned alone.
 */
export function redisUrlOf(source: RedisSource): string {
  if (typeof source === 'string') return source
  if (isClusterClient(source)) return clusterUrlOf(source)
  const o = source.options
  const auth =
    o.password === undefined || o.password === null
      ? ''
      : `${encodeURIComponent(o.username ?? '')}:${encodeURIComponent(o.password)}@`
  const db = o.db === undefined || o.db === 0 ? '' : `/${o.db}`
  if (typeof o.path === 'string' && o.path !== '') return o.path // createRedis takes a socket path as it is (no auth, db 0)
  const host = (o.host ?? '127.0.0.1').includes(':') ? `[${o.host}]` : (o.host ?? '127.0.0.1')
  return `${o.tls === undefined ? 'redis' : 'rediss'}://${auth}${host}:${o.port ?? 6379}${db}`
}
