/** Child processes for tests: run TypeScript entry points through tsx, wait for a line, collect output. */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'

import { afterEach, expect } from 'vitest'

/** Children still running when a test ends (it failed or timed out) are killed, so none outlives its test. */
const running = new Set<ChildProcess>()
afterEach(() => {
  for (const child of running) child.kill('SIGKILL')
})

export interface Child {
  readonly process: ChildProcess
  readonly lines: string[]
  /** Resolves with the first stdout line matching `pattern` (rejects if the child exits first or after `timeoutMs`). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>
}

export function spawnTs(entry: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = []
  const onLine = (line: string) => {
    lines.push(line)
    for (const w of waiters.filter((x) => x.pattern.test(line))) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve(line)
    }
  }
  createInterface({ input: child.stdout }).on('line', onLine)
  createInterface({ input: child.stderr }).on('line', (line) => lines.push(`stderr: ${line}`))
  running.add(child)
  const exited = once(child, 'exit').then(([code, signal]) => {
    running.delete(child)
    return (code as number | null) ?? (signal as string)
  })
  return {
    process: child,
    lines,
    exited,
    waitForLine(pattern, timeoutMs = 20_000) {
      const seen = lines.find((l) => pattern.test(l))
      if (seen !== undefined) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${lines.join('\n')}`)),
          timeoutMs,
        )
        const settle = (fn: () => void) => {
          clearTimeout(timer)
          fn()
        }
        waiters.push({ pattern, resolve: (line) => settle(() => resolve(line)) })
        void exited.then((code) =>
          settle(() => reject(new Error(`exited (${code}) before a line matching ${pattern}:\n${lines.join('\n')}`))),
        )
      })
    },
  }
}

/** Whether process `pid` runs (signal 0); any error but "no such process" fails the test. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    expect((error as NodeJS.ErrnoException).code).toBe('ESRCH')
    return false
  }
}
