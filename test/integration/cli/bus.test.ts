// `pulse bus put` / `pulse bus get` as real child processes, against a real BusServer (in this process)
// and the run's Redis.
import { spawn } from 'node:child_process'
import { once } from 'node:events'

import { afterEach, describe, expect, it } from 'vitest'

import { BusServer } from '../../../actors/bus/index.js'
import { type Child, spawnTs } from '../../helpers/child.js'
import { redisUrl } from '../../helpers/servers.js'
import { Opened } from '../bus/helpers.js'

let opened = new Opened()
afterEach(async () => {
  await opened.close()
  opened = new Opened()
})

/** The environment of a CLI child: no bus location or credentials inherited from the test's. */
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra }
  delete env.REDIS_URL
  for (const name of ['PULSE_BUS_URL', 'PULSE_BUS_USER', 'PULSE_BUS_PASSWORD']) if (!(name in extra)) delete env[name]
  return env
}

function pulse(args: readonly string[], extra: Record<string, string> = {}): Child {
  return spawnTs('cli/main.ts', ['bus', ...args], cliEnv(extra))
}

/** `pulse bus …` with `input` on its standard input; resolves with the exit code and the lines. */
async function pulseWithStdin(
  args: readonly string[],
  input: string,
  extra: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'bus', ...args], {
    env: cliEnv(extra),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
  child.stdin.end(input)
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

async function serve(auth?: string): Promise<{ server: BusServer; prefix: string }> {
  const bus = await opened.bus({ dedupTtlMs: 60_000 })
  const server = opened.add(
    await BusServer.listen({ bus, port: 0, ...(auth === undefined ? {} : { auth: { users: auth } }) }),
  )
  return { server, prefix: opened.prefix }
}

const stdoutOf = (child: Child) => child.lines.filter((line) => !line.startsWith('stderr: '))

describe('pulse bus put / get', () => {
  it('put (argument and stdin) then get --count over HTTP, and get --json --ack manual --durable straight from Redis', async () => {
    const { server, prefix } = await serve('ada:secret')
    const creds = { PULSE_BUS_USER: 'ada', PULSE_BUS_PASSWORD: 'secret' }
    const first = pulse(['put', 'a.created', '{"name": "ada"}', '--url', server.url], creds)
    expect(await first.exited).toBe(0)
    const [line] = stdoutOf(first)
    expect(line).toMatch(/^e_[0-9a-v]{20} 0 \d{4}-\d\d-\d\dT[\d:.]+Z$/)
    const id = line!.split(' ')[0] as string
    const piped = await pulseWithStdin(
      ['put', 'a.piped', '--url', server.url, '--user', 'ada', '--json'],
      '{"from":"stdin"}\n',
      { PULSE_BUS_PASSWORD: 'secret' },
    )
    expect(piped.code).toBe(0)
    expect(JSON.parse(piped.stdout)).toMatchObject({ index: 1 })
    expect(piped.stdout).toMatch(/^\{"id":"e_[0-9a-v]{20}",/)

    const get = pulse(['get', 'a.>', '--url', server.url, '--start', 'oldest', '--count', '2'], creds)
    expect(await get.exited).toBe(0)
    expect(stdoutOf(get)).toEqual([
      `${id} a.created {"name": "ada"}`,
      expect.stringMatching(/^e_\S+ a\.piped \{"from":"stdin"\}$/),
    ])

    const durable = [
      'get',
      'a.*',
      '--redis',
      redisUrl(),
      '--prefix',
      prefix,
      '--namespaces',
      'a,b',
      '--start',
      'oldest',
      '--ack',
      'manual',
      '--durable',
      'cli',
      '--count',
      '1',
      '--json',
    ]
    const once1 = pulse(durable)
    expect(await once1.exited).toBe(0)
    expect(JSON.parse(stdoutOf(once1)[0]!)).toMatchObject({ id, subject: 'a.created', payload: { name: 'ada' } })
    // the durable consumer resumes after its acked event
    const once2 = pulse(durable)
    expect(await once2.exited).toBe(0)
    expect(JSON.parse(stdoutOf(once2)[0]!)).toMatchObject({ subject: 'a.piped', payload: { from: 'stdin' } })
  })

  it('get waits for new events and exits after --count', async () => {
    const { server } = await serve()
    const get = pulse(['get', 'b.*', '--url', server.url, '--count', '1'])
    // The subscription exists once the server holds the stream.
    await expect.poll(() => server.openStreams, { timeout: 20_000 }).toBe(1)
    await server.bus.put('b.other.deeper', 0) // does not match b.*
    await server.bus.put('b.x', { n: 7 })
    expect(await get.exited).toBe(0)
    expect(stdoutOf(get)).toEqual([expect.stringMatching(/^e_\S+ b\.x \{"n":7\}$/)])
  })

  it('typed errors: a dedup conflict, wrong credentials and a bad subject exit 1 with the error code; a usage error exits 2', async () => {
    const { server, prefix } = await serve('ada:secret')
    const creds = { PULSE_BUS_USER: 'ada', PULSE_BUS_PASSWORD: 'secret' }
    const put = (args: string[], extra: Record<string, string> = creds) => pulse(['put', ...args], extra)

    const firstKey = put(['a.order', '1', '--url', server.url, '--key', 'order-1'])
    expect(await firstKey.exited).toBe(0)
    const again = put(['a.order', '2', '--url', server.url, '--key', 'order-1'])
    expect(await again.exited).toBe(1)
    expect(again.lines).toContain('stderr: pulse: PULSE_ERR_BUS_DUPLICATE: key was processed before')
    const againRedis = put(['a.order', '2', '--redis', redisUrl(), '--prefix', prefix, '--key', 'order-1'], {})
    expect(await againRedis.exited).toBe(1)
    expect(againRedis.lines).toContain('stderr: pulse: PULSE_ERR_BUS_DUPLICATE: key was processed before')

    const wrong = put(['a.x', '1', '--url', server.url], { PULSE_BUS_USER: 'ada', PULSE_BUS_PASSWORD: 'nope' })
    const none = pulse(['get', 'a.>', '--url', server.url], {})
    expect(await wrong.exited).toBe(1)
    expect(await none.exited).toBe(1)
    expect(wrong.lines).toContain('stderr: pulse: PULSE_ERR_HTTP_UNAUTHORIZED: invalid credentials')
    expect(none.lines).toContain('stderr: pulse: PULSE_ERR_HTTP_UNAUTHORIZED: authentication required')

    const wildcard = put(['a.*', '1', '--url', server.url])
    const noNamespace = put(['zz.x', '1', '--url', server.url])
    const badPattern = pulse(['get', 'a..b', '--redis', redisUrl(), '--prefix', prefix])
    expect(await wildcard.exited).toBe(1)
    expect(await noNamespace.exited).toBe(1)
    expect(await badPattern.exited).toBe(1)
    expect(wildcard.lines).toContainEqual(
      expect.stringMatching(
        /^stderr: pulse: PULSE_ERR_INVALID_ARG: subject "a\.\*" is invalid: subject should not have \* or >/,
      ),
    )
    expect(noNamespace.lines).toContain('stderr: pulse: PULSE_ERR_INVALID_ARG: namespace not found: zz')
    expect(badPattern.lines).toContainEqual(expect.stringMatching(/^stderr: pulse: PULSE_ERR_INVALID_ARG: /))

    const nowhere = put(['a.x', '1'], {})
    const usage = pulse(['get', 'a.>', '--url', server.url, '--ack', 'sometimes'], creds)
    expect(await nowhere.exited).toBe(1)
    expect(await usage.exited).toBe(2)
    expect(nowhere.lines).toContainEqual(
      expect.stringMatching(/^stderr: pulse: PULSE_ERR_INVALID_ARG: where is the bus\?/),
    )
    // nothing was published by the failures
    expect((await server.bus.put('a.last', 1)).index).toBe(1)
  })
})
