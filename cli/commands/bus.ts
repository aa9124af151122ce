/**
 * `pulse bus put` / `pulse bus get`: publish to and read from the bus, through a `BusServer`
 * (`--url http://…`, as a `BusClient`) or straight from Redis (`--redis redis://…`, as a `Bus`).
 *
 * Where to connect, first found: `--url`, `--redis`, `PULSE_BUS_URL`, `REDIS_URL`. Credentials for a
 * server with Basic auth: `--user` / `--password`, else `PULSE_BUS_USER` / `PULSE_BUS_PASSWORD` (the
 * password is better left to the environment: a command line is visible to every user of the machine).
 * With Redis, `--namespaces` lists the namespaces to declare (default: the subject's own).
 *
 * `put` prints one line, `<id> <index> <created_at>` (`--json`: `{"id","index","created_at"}`); the payload is the
 * argument, or standard input when there is no argument and it is not a terminal (`-` reads it too).
 * `get` prints one line per event, `<id> <subject> <payload>` (`--json`: the event's record, as SSE
 * streams it), until `--count` events, Ctrl-C or SIGTERM; `--ack manual` acks each event once printed.
 *
 * Failures are the CLI's (`program.ts`): one line `pulse: <code>: <message>` on stderr and exit code 1 —
 * e.g. `PULSE_ERR_BUS_DUPLICATE` for a dedup key seen before, `PULSE_ERR_HTTP_UNAUTHORIZED` for wrong
 * credentials, `PULSE_ERR_INVALID_ARG` for a bad subject; 2 for a usage error.
 */
import { Command, Option } from 'commander'

import { Bus, BusClient, namespaceOf } from '../../actors/bus/index.js'
import type { BusEvent, PutOptions, Subscription } from '../../actors/bus/index.js'
import { InvalidArgumentError } from '../../runtime/errors.js'

interface ConnectOptions {
  url?: string
  redis?: string
  user?: string
  password?: string
  namespaces?: string
  prefix?: string
}

interface PutCliOptions extends ConnectOptions {
  key?: string
  confirm?: string
  timeout?: string
  json?: boolean
}

interface GetCliOptions extends ConnectOptions {
  start: string
  ack: 'none' | 'manual'
  redelivery?: string
  durable?: string
  count?: string
  json?: boolean
}

type Target = { kind: 'http'; client: BusClient } | { kind: 'redis'; bus: Bus }

function withConnectOptions(command: Command): Command {
  return command
    .option('--url <url>', 'a BusServer (http:// or https://); default PULSE_BUS_URL')
    .option('--redis <url>', 'straight to Redis instead of a server; default REDIS_URL')
    .option('--user <name>', 'Basic auth user for --url; default PULSE_BUS_USER')
    .option('--password <password>', 'Basic auth password for --url; default PULSE_BUS_PASSWORD')
    .option('--namespaces <list>', 'with --redis: namespaces to declare, comma-separated (default: the subject\u2019s)')
    .option('--prefix <prefix>', 'with --redis: the bus\u2019s key prefix (default pulse:bus:)')
}

export function busCommand(): Command {
  const bus = new Command('bus').description(
    'publish to and read from the bus (through a BusServer with --url, or straight from Redis with --redis)',
  )
  bus.addCommand(
    withConnectOptions(new Command('put'))
      .description('publish one event; prints its id, index and created_at')
      .argument('<subject>', 'the subject, e.g. user.created')
      .argument(
        '[payload]',
        'JSON (other text is sent as a JSON string); default: standard input when it is not a terminal',
      )
      .option('--key <key>', 'dedup key: the same key again on the subject fails with PULSE_ERR_BUS_DUPLICATE')
      .option('--confirm <n>', 'wait until n distinct consumers acked the event')
      .option('--timeout <ms>', 'deadline of --confirm, ms')
      .option('--json', 'print the result as one JSON object')
      .action((subject: string, payload: string | undefined, options: PutCliOptions) =>
        runPut(subject, payload, options),
      ),
  )
  bus.addCommand(
    withConnectOptions(new Command('get'))
      .description('subscribe and print one line per event until --count events, Ctrl-C or SIGTERM')
      .argument('<pattern>', 'subject pattern: * one token, > the rest, e.g. user.>')
      .option('--start <where>', 'oldest, newest or an event id to start after', 'newest')
      .addOption(
        new Option('--ack <mode>', 'manual: ack each event once printed (the next comes after it)')
          .choices(['none', 'manual'])
          .default('none'),
      )
      .option('--redelivery <ms>', 'with --ack manual: redelivery delay, ms')
      .option('--durable <name>', 'a durable consumer: resumes after its last acked event')
      .option('--count <n>', 'exit after n events')
      .option('--json', 'print each event as its JSON record, one per line')
      .action((pattern: string, options: GetCliOptions) => runGet(pattern, options)),
  )
  return bus
}

function positiveInteger(value: string | undefined, name: string, min = 1): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new InvalidArgumentError(`${name} must be an integer of at least ${min} (got ${JSON.stringify(value)})`, {
      data: { option: name },
    })
  }
  return Number(value)
}

async function connect(options: ConnectOptions, subject: string): Promise<Target> {
  const url = options.url ?? (options.redis === undefined ? process.env.PULSE_BUS_URL : undefined)
  if (url !== undefined && url !== '') {
    if (options.namespaces !== undefined || options.prefix !== undefined) {
      throw new InvalidArgumentError('--namespaces and --prefix go with --redis, not --url', {
        data: { option: '--namespaces' },
      })
    }
    const user = options.user ?? process.env.PULSE_BUS_USER
    const password = options.password ?? process.env.PULSE_BUS_PASSWORD
    const client = new BusClient(url, {
      ...(user === undefined || user === '' ? {} : { username: user, password: password ?? '' }),
    })
    return { kind: 'http', client }
  }
  const redis = options.redis ?? process.env.REDIS_URL
  if (redis === undefined || redis === '') {
    throw new InvalidArgumentError(
      'where is the bus? give --url http://… (a BusServer) or --redis redis://… (or PULSE_BUS_URL / REDIS_URL)',
      { data: { option: '--url' } },
    )
  }
  const own = namespaceOf(subject)
  const namespaces =
    options.namespaces === undefined
      ? own === undefined
        ? []
        : [own]
      : options.namespaces
          .split(',')
          .map((ns) => ns.trim())
          .filter((ns) => ns !== '')
  const bus = await Bus.connect(redis, {
    namespaces,
    ...(options.prefix === undefined ? {} : { keyPrefix: options.prefix }),
  })
  return { kind: 'redis', bus }
}

async function close(target: Target): Promise<void> {
  if (target.kind === 'http') await target.client.close()
  else await target.bus.close()
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

async function payloadOf(argument: string | undefined): Promise<string | undefined> {
  if (argument !== undefined && argument !== '-') return argument
  if (argument === undefined && process.stdin.isTTY) return undefined
  const text = await readStdin()
  // A trailing newline (echo '{…}' | pulse bus put …) is not part of the payload.
  const trimmed = text.replace(/\r?\n$/, '')
  return trimmed === '' ? undefined : trimmed
}

async function runPut(subject: string, argument: string | undefined, options: PutCliOptions): Promise<void> {
  const confirm = positiveInteger(options.confirm, '--confirm')
  const timeoutMs = positiveInteger(options.timeout, '--timeout')
  const payload = await payloadOf(argument)
  const put: PutOptions = {}
  if (options.key !== undefined) put.key = options.key
  if (confirm !== undefined) put.confirm = confirm
  if (timeoutMs !== undefined) put.timeoutMs = timeoutMs
  const target = await connect(options, subject)
  try {
    const result =
      target.kind === 'http'
        ? await target.client.put(subject, payload, put)
        : await target.bus.put(subject, payload, put)
    const line =
      options.json === true
        ? JSON.stringify({ id: result.id, index: result.index, created_at: result.createdAtText })
        : `${result.id} ${result.index} ${result.createdAtText}`
    process.stdout.write(`${line}\n`)
  } finally {
    await close(target)
  }
}

function eventLine(event: BusEvent, json: boolean): string {
  if (json) return event.record
  const payload = event.payload.length === 0 ? '' : ` ${event.payload.toString('utf8')}`
  return `${event.id} ${event.subject}${payload}`
}

async function runGet(pattern: string, options: GetCliOptions): Promise<void> {
  const count = positiveInteger(options.count, '--count')
  const delayMs = positiveInteger(options.redelivery, '--redelivery')
  const stop = new AbortController()
  const onSignal = () => stop.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const target = await connect(options, pattern)
  try {
    const get = {
      start: options.start,
      ack: options.ack,
      ...(delayMs === undefined ? {} : { redelivery: { delayMs } }),
      ...(options.durable === undefined ? {} : { durable: options.durable }),
      signal: stop.signal,
    }
    const sub: Subscription = target.kind === 'http' ? target.client.get(pattern, get) : target.bus.get(pattern, get)
    let seen = 0
    try {
      await sub.ready
      for await (const event of sub) {
        process.stdout.write(`${eventLine(event, options.json === true)}\n`)
        if (options.ack === 'manual') await event.ack()
        if (count !== undefined && ++seen >= count) break
      }
    } finally {
      await sub.return()
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await close(target)
  }
}
