/**
 * The built `pulse` binary (`node dist/cli/main.js`) as a child process, as an operator runs it.
 * `npm test` builds first; a run of single files needs `npm run build` after a change under `cli/` or
 * the library.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'

import { afterAll, beforeAll } from 'vitest'

import { JobQueue } from '../../actors/jobs/index.js'
import { createTestDatabase, type TestDatabase } from './postgres.js'

export const kPulseBin = resolve('dist/cli/main.js')

export interface PulseRun {
  code: number | null
  stdout: string
  stderr: string
}

export interface PulseRunOptions {
  /** Variables over the clean environment below. */
  env?: Record<string, string>
  /** Written to standard input, which is then closed. */
  input?: string
  /** Kills the child past this, failing the test with what it printed. @default 30_000 */
  timeoutMs?: number
}

/**
 * The environment of a CLI child: the test's, without any connection setting, with a config file of
 * its own (none saved) so that nothing on the machine leaks in.
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of Object.keys(env)) {
    if (name.startsWith('PULSE_') || name === 'REDIS_URL' || name === 'DATABASE_URL') delete env[name]
  }
  env.PULSE_CONFIG = join(mkdtempSync(join(tmpdir(), 'pulse-cli-')), 'config.json')
  return { ...env, ...extra }
}

/** Runs `pulse …args` to its end. */
export function runPulse(args: readonly string[], options: PulseRunOptions = {}): Promise<PulseRun> {
  if (!existsSync(kPulseBin)) throw new Error(`${kPulseBin} is missing: run npm run build`)
  const child = spawn(process.execPath, [kPulseBin, ...args], {
    env: cliEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
  child.stdin.end(options.input ?? '')
  const timeoutMs = options.timeoutMs ?? 30_000
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      fail(new Error(`pulse ${args.join(' ')} ran past ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.on('error', fail)
    child.on('close', (code) => {
      clearTimeout(timer)
      done({ code, stdout, stderr })
    })
  })
}

/** Runs `pulse …args --json`, expects exit code 0 and returns the parsed document. */
export async function pulseJson<T = unknown>(args: readonly string[], options: PulseRunOptions = {}): Promise<T> {
  const run = await runPulse([...args, '--json'], options)
  if (run.code !== 0) throw new Error(`pulse ${args.join(' ')} exited ${run.code}\n${run.stderr}${run.stdout}`)
  return JSON.parse(run.stdout) as T
}

/** A `pulse` command left running (a server, a tail, a watch). */
export interface RunningPulse {
  readonly child: ChildProcess
  /** Stdout lines so far. */
  readonly lines: string[]
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>
  /** Resolves with the first `n` lines, once printed (rejects if the child exits first). */
  waitForLines(n: number): Promise<string[]>
  /** Resolves with the first line matching `pattern` (rejects if the child exits first). */
  waitForLine(pattern: RegExp): Promise<string>
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>
}

const running = new Set<ChildProcess>()
// A child still running when its file ends (its test failed) is killed, so none outlives the file.
afterAll(() => {
  for (const child of running) child.kill('SIGKILL')
})

/** Starts `pulse …args` with `env` over `cliEnv`; its output is collected as it comes. */
export function spawnPulse(args: readonly string[], env: Record<string, string> = {}): RunningPulse {
  if (!existsSync(kPulseBin)) throw new Error(`${kPulseBin} is missing: run npm run build`)
  const child = spawn(process.execPath, [kPulseBin, ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  const lines: string[] = []
  let stderr = ''
  let done = false
  const wakers = new Set<() => void>()
  const wake = () => {
    for (const w of wakers) w()
    wakers.clear()
  }
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line)
    wake()
  })
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
  const exited = once(child, 'exit').then(([code]) => {
    running.delete(child)
    done = true
    wake()
    return code as number | null
  })
  const until = async <T>(found: () => T | undefined, what: string): Promise<T> => {
    for (;;) {
      const value = found()
      if (value !== undefined) return value
      if (done) throw new Error(`pulse ${args.join(' ')} exited before ${what}:\n${lines.join('\n')}\n${stderr}`)
      await new Promise<void>((resolve) => wakers.add(resolve))
    }
  }
  return {
    child,
    lines,
    exited,
    waitForLines: (n) => until(() => (lines.length >= n ? lines.slice(0, n) : undefined), `${n} lines`),
    waitForLine: (pattern) => until(() => lines.find((line) => pattern.test(line)), `a line matching ${pattern}`),
    stop: () => {
      child.kill('SIGTERM')
      return exited
    },
  }
}

/** A database of the file's own, a schema in it, and the CLI environment that points at both. */
export interface CliDatabase {
  readonly url: string
  readonly schema: string
  /** `DATABASE_URL`, `PULSE_SCHEMA` and `USER` (who the audit log records as `cli:<user>`). */
  readonly env: Record<string, string>
  /** Runs `fn` with a queue on the schema, closed afterwards. */
  withQueue<T>(fn: (queue: JobQueue) => Promise<T>): Promise<T>
}

/** Creates the file's database before its tests and drops it after them. */
export function useCliDatabase(schema: string, user: string): CliDatabase {
  let db: TestDatabase | undefined
  beforeAll(async () => {
    db = await createTestDatabase()
  })
  afterAll(async () => {
    await db?.drop()
  })
  const url = () => {
    if (db === undefined) throw new Error('useCliDatabase: the database is made in beforeAll')
    return db.url
  }
  return {
    get url() {
      return url()
    },
    schema,
    get env() {
      return { DATABASE_URL: url(), PULSE_SCHEMA: schema, USER: user }
    },
    async withQueue(fn) {
      const queue = await JobQueue.connect({ pg: url(), schema })
      try {
        return await fn(queue)
      } finally {
        await queue.close()
      }
    },
  }
}
