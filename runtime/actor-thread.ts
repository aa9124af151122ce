/**
 * The runtime's side of one actor thread: the worker, its two rings (mailbox in, replies out), the
 * comlink proxy of its control plane, and the actors that live on it, by slot.
 *
 *   starting --online--> alive --exit (any code)--> dead
 *
 * A control call races the thread's exit: a call to a thread that dies never hangs.
 */
import { MessageChannel, type MessagePort, type ResourceLimits, type Worker } from 'node:worker_threads'

import * as Comlink from 'comlink'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'

import { ActorCrashedError, coerceError, fromWire } from './errors.js'
import type { ControlResult, ThreadBoot, ThreadControl } from './protocol.js'
import { trackResource } from './resource-tracker.js'
import { Doorbell } from './ring/doorbell.js'
import { createRingBuffer, RingReader, RingWriter } from './ring/ring-buffer.js'
import { startWorker } from './thread-boot.js'

export interface ThreadOptions {
  /** Register tsx in the thread: its actor modules are TypeScript. */
  typescript: boolean
  mailboxBytes: number
  latencySampleEvery: number
  /** Microseconds the thread polls its empty mailbox before it sleeps. */
  spinUs: number
  resourceLimits?: ResourceLimits
}

export interface ThreadExit {
  code: number
  error: Error | undefined
}

const kEntry = new URL(import.meta.url.endsWith('.ts') ? './thread-entry.ts' : './thread-entry.js', import.meta.url)

export class ActorThread<Actor> {
  readonly name: string
  /** Mailbox: the runtime writes, the thread reads. */
  readonly writer: RingWriter
  /** Replies and crash reports: the thread writes, the runtime reads. */
  readonly reader: RingReader
  readonly actors = new Map<number, Actor>()
  readonly exited: Promise<ThreadExit>
  readonly #worker: Worker
  readonly #port: MessagePort
  readonly #control: Comlink.Remote<ThreadControl>
  readonly #untrack: () => void
  #nextSlot = 0
  #alive = true
  #error: Error | undefined

  private constructor(name: string, runtimeBell: Doorbell, options: ThreadOptions) {
    this.name = name
    const inbound = createRingBuffer(options.mailboxBytes)
    const outbound = createRingBuffer(options.mailboxBytes)
    const threadBell = new Doorbell()
    const { port1, port2 } = new MessageChannel()
    const boot: ThreadBoot = {
      thread: name,
      inbound,
      outbound,
      threadBell: threadBell.buffer,
      runtimeBell: runtimeBell.buffer,
      control: port2,
      latencySampleEvery: options.latencySampleEvery,
      spinUs: options.spinUs,
    }
    this.#worker = startWorker(
      kEntry,
      {
        name: `pulse:${name}`,
        workerData: boot,
        transferList: [port2],
        ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }),
      },
      { typescript: options.typescript },
    )
    this.#untrack = trackResource('thread', `actor thread ${name}`)
    this.writer = new RingWriter(inbound, threadBell)
    this.reader = new RingReader(outbound)
    this.#port = port1
    this.#control = Comlink.wrap<ThreadControl>(nodeEndpoint(port1))
    this.#worker.on('error', (error) => {
      this.#error ??= error
    })
    // Not events.once: it would reject on the 'error' that precedes an out-of-memory exit.
    this.exited = new Promise<ThreadExit>((resolve) => {
      this.#worker.once('exit', (code) => {
        this.#alive = false
        this.writer.close()
        this.#release()
        resolve({ code, error: this.#error })
      })
    })
  }

  static async start<Actor>(name: string, runtimeBell: Doorbell, options: ThreadOptions): Promise<ActorThread<Actor>> {
    const thread = new ActorThread<Actor>(name, runtimeBell, options)
    const online = new Promise((resolve) => thread.#worker.once('online', resolve))
    const exit = thread.exited.then(({ error }) => {
      throw new ActorCrashedError(`actor thread "${name}" exited while starting`, { cause: error })
    })
    await Promise.race([online, exit])
    return thread
  }

  get alive(): boolean {
    return this.#alive
  }

  nextSlot(): number {
    return this.#nextSlot++
  }

  /** A control-plane call; rejects with the thread's error as its class, or when the thread dies. */
  async call<T>(fn: (control: Comlink.Remote<ThreadControl>) => Promise<ControlResult<T>>): Promise<T> {
    if (!this.#alive) throw new ActorCrashedError(`actor thread "${this.name}" is not running`)
    const died = this.exited.then(({ code, error }) => {
      throw new ActorCrashedError(`actor thread "${this.name}" exited (code ${code}) during a control call`, {
        cause: error,
      })
    })
    const result = await Promise.race([fn(this.#control), died])
    if (!result.ok) throw fromWire(result.error)
    return result.value
  }

  /** Ends the thread at once (pending work is lost); resolves when it is gone. */
  async terminate(): Promise<void> {
    if (this.#alive) await this.#worker.terminate().catch((error: unknown) => coerceError(error))
    await this.exited
  }

  #release(): void {
    this.#control[Comlink.releaseProxy]()
    this.#port.close()
    this.#untrack()
  }
}
