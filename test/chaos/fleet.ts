/**
 * A fleet of child processes running one fixture: start them, kill one with SIGKILL (its replacement
 * starts in the background), stop them all. A member that exits by itself once ready is a crash, kept
 * with its output for the scenario to report; one that fails before it is ready (it could not connect
 * through a fault, or to a server restarting) is started again, after a backoff.
 */
import { setTimeout as sleep } from 'node:timers/promises'

import { type Child, spawnTs } from '../helpers/child.js'

export interface FleetOptions {
  readonly entry: string
  /** The fixture's arguments for member `slot` (its JSON config). */
  readonly args: (slot: number) => string[]
  /** The line a member prints once it works. */
  readonly ready: RegExp
  /** @default 30_000 */
  readonly readyTimeoutMs?: number
  /** Attempts to start one member before the fleet gives up. @default 5 */
  readonly startAttempts?: number
  /** Waited after a failed start, times the attempt's number (a server restarting is back by then). @default 0 */
  readonly startBackoffMs?: number
}

interface Member {
  readonly child: Child
  /** Set before the fleet signals it: its exit is expected. */
  expected: boolean
}

export class Fleet {
  readonly #options: FleetOptions
  readonly #members = new Map<number, Member>()
  readonly #crashes: string[] = []
  readonly #killedPids = new Set<number>()
  /** Replacements starting. */
  readonly #starting = new Set<Promise<void>>()
  #kills = 0
  #failedStarts = 0
  #next = 0

  constructor(options: FleetOptions) {
    this.#options = options
  }

  /** Starts `size` members; resolves once every one is ready. */
  async start(size: number): Promise<void> {
    await Promise.all(Array.from({ length: size }, (_, slot) => this.#spawn(slot)))
  }

  /**
   * SIGKILLs a ready member (in turn) and resolves its ready line once it is gone; its replacement
   * starts in the background unless `restart` is false. Resolves `undefined` when no member is ready.
   */
  async killOne({ restart = true } = {}): Promise<string | undefined> {
    const slots = [...this.#members.keys()].sort((a, b) => a - b)
    const slot = slots[this.#next++ % Math.max(1, slots.length)]
    const member = slot === undefined ? undefined : this.#members.get(slot)
    if (slot === undefined || member === undefined) return undefined
    this.#members.delete(slot)
    member.expected = true
    member.child.process.kill('SIGKILL')
    await member.child.exited
    this.#kills++
    this.#killedPids.add(member.child.process.pid ?? -1)
    const readyLine = member.child.lines.find((l) => this.#options.ready.test(l))
    if (restart) this.#restart(slot)
    return readyLine
  }

  /** Sends `signal` to the member that `killOne` takes next; false when no member is ready. */
  signalNext(signal: NodeJS.Signals): boolean {
    const slots = [...this.#members.keys()].sort((a, b) => a - b)
    const slot = slots[this.#next % Math.max(1, slots.length)]
    const member = slot === undefined ? undefined : this.#members.get(slot)
    return member?.child.process.kill(signal) ?? false
  }

  #restart(slot: number): void {
    const starting = this.#spawn(slot).catch((error: unknown) => {
      this.#crashes.push(`#${slot} could not start again: ${String(error)}`)
    })
    this.#starting.add(starting)
    void starting.then(() => this.#starting.delete(starting))
  }

  /** Resolves once `count` members are ready, or no replacement is starting any more. */
  async ready(count: number): Promise<void> {
    while (this.#members.size < count && this.#starting.size > 0) await Promise.race(this.#starting)
  }

  /** Resolves each member's first line matching `pattern` (in slot order); rejects after `timeoutMs`. */
  waitForAll(pattern: RegExp, timeoutMs: number): Promise<string[]> {
    const members = [...this.#members.entries()].sort(([a], [b]) => a - b)
    return Promise.all(members.map(([, member]) => member.child.waitForLine(pattern, timeoutMs)))
  }

  get kills(): number {
    return this.#kills
  }

  /** The pids of the members killed so far. */
  get killedPids(): ReadonlySet<number> {
    return this.#killedPids
  }

  /** Starts that failed before the member was ready (each was tried again). */
  get failedStarts(): number {
    return this.#failedStarts
  }

  /** Members that exited by themselves once ready: their last lines. */
  get crashes(): readonly string[] {
    return this.#crashes
  }

  /** SIGTERMs every member; one still running after `timeoutMs` is killed. Resolves their exit codes. */
  async stop(timeoutMs = 15_000): Promise<(number | string)[]> {
    await Promise.all(this.#starting)
    const members = [...this.#members.values()]
    this.#members.clear()
    return Promise.all(members.map((m) => stopMember(m, timeoutMs)))
  }

  async #spawn(slot: number): Promise<void> {
    const attempts = this.#options.startAttempts ?? 5
    for (let attempt = 1; ; attempt++) {
      const member: Member = { child: spawnTs(this.#options.entry, this.#options.args(slot)), expected: false }
      try {
        await member.child.waitForLine(this.#options.ready, this.#options.readyTimeoutMs ?? 30_000)
      } catch (error) {
        member.child.process.kill('SIGKILL')
        this.#failedStarts++
        if (attempt >= attempts) throw error
        await sleep((this.#options.startBackoffMs ?? 0) * attempt)
        continue
      }
      this.#members.set(slot, member)
      void member.child.exited.then((code) => {
        if (!member.expected)
          this.#crashes.push(`#${slot} exited (${code}):\n${member.child.lines.slice(-20).join('\n')}`)
      })
      return
    }
  }
}

async function stopMember(member: Member, timeoutMs: number): Promise<number | string> {
  member.expected = true
  member.child.process.kill('SIGTERM')
  const timer = setTimeout(() => member.child.process.kill('SIGKILL'), timeoutMs)
  try {
    return await member.child.exited
  } finally {
    clearTimeout(timer)
  }
}
