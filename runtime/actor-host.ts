/**
 * The inside of an actor thread: the actors that live here, the loop that feeds them from the mailbox
 * ring, and the outbox that carries replies back.
 *
 * Per actor slot:
 *
 *   (empty) --spawn: init ok--> running --receive throws--> crashed --restart: init ok--> running
 *                                  |                           |
 *                                  +--stopActor/shutdown-->  stopped
 *
 * A frame for a slot that is not running is not handled: a tell is counted as dropped and an ask is
 * answered with `ActorCrashedError`. Messages are handled one at a time across the whole thread; an
 * async `receive` holds the loop until it settles (run to completion), so actors that share a thread
 * share its time, as they would share an event loop.
 *
 * The loop: drain up to a batch of frames; if a receive went async, await it; if the ring was empty,
 * poll it for the spin window, then sleep on the doorbell (woken once per batch by the producer). A
 * paused host does not read the ring (nor spin), so producers see it fill up (backpressure).
 */
import hdr from 'hdr-histogram-js'

import type { ActorContext, ActorDefinition } from './actor.js'
import { isActorDefinition } from './actor.js'
import {
  ActorCrashedError,
  ActorStartError,
  coerceError,
  InvalidArgumentError,
  ProtocolError,
  toWire,
} from './errors.js'
import type { ControlResult, SlotStats } from './protocol.js'
import {
  decodeBody,
  encodeBody,
  encodeHeader,
  envelopeCorr,
  envelopeSlot,
  FrameKind,
  kEnvelopeBytes,
} from './ring/codec.js'
import type { Doorbell } from './ring/doorbell.js'
import type { RingReader, RingWriter } from './ring/ring-buffer.js'

type SlotState = 'running' | 'crashed' | 'stopped'

interface Slot {
  readonly index: number
  readonly name: string
  readonly definition: ActorDefinition
  readonly args: unknown
  readonly histogram: hdr.Histogram
  state: SlotState
  value: unknown
  abort: AbortController
  /** The context of every tell (no reply to make): one per incarnation, not one per message. */
  tellContext: ActorContext | undefined
  processed: number
  dropped: number
}

const kBatch = 256

export class ActorHost {
  readonly thread: string
  readonly #reader: RingReader
  readonly #bell: Doorbell
  readonly #outbox: Outbox
  readonly #sampleEvery: number
  readonly #spinUs: number
  readonly #slots: (Slot | undefined)[] = []
  /** Spawn order, for stopping in reverse. */
  readonly #order: number[] = []
  #busy: Promise<void> | undefined
  #paused = false
  #stopping = false
  #drainWaiters: (() => void)[] = []
  #loop: Promise<void> | undefined
  #sampleCountdown = 0

  /** `spinUs`: how long the loop polls an empty mailbox before it sleeps on `bell`. */
  constructor(thread: string, reader: RingReader, bell: Doorbell, writer: RingWriter, sampleEvery: number, spinUs = 0) {
    this.thread = thread
    this.#reader = reader
    this.#bell = bell
    this.#outbox = new Outbox(writer)
    this.#sampleEvery = Math.max(1, sampleEvery)
    this.#spinUs = spinUs
  }

  start(): void {
    this.#loop ??= this.#run()
  }

  async spawn(index: number, moduleUrl: string, name: string, args: unknown): Promise<ControlResult> {
    return settle(async () => {
      const definition = await loadDefinition(moduleUrl)
      const slot: Slot = {
        index,
        name,
        definition,
        args,
        histogram: hdr.build({
          lowestDiscernibleValue: 1,
          highestTrackableValue: 3_600_000_000,
          numberOfSignificantValueDigits: 2,
        }),
        state: 'crashed',
        value: undefined,
        abort: new AbortController(),
        tellContext: undefined,
        processed: 0,
        dropped: 0,
      }
      this.#slots[index] = slot
      this.#order.push(index)
      await this.#init(slot)
      return undefined
    })
  }

  restart(index: number): Promise<ControlResult> {
    return settle(async () => {
      const slot = this.#slot(index)
      slot.abort = new AbortController()
      slot.tellContext = undefined
      await this.#init(slot)
      return undefined
    })
  }

  stopActor(index: number): Promise<ControlResult> {
    return settle(async () => {
      await this.#drained()
      await this.#stopSlot(this.#slot(index))
      this.#order.splice(this.#order.indexOf(index), 1)
      return undefined
    })
  }

  drain(): Promise<ControlResult> {
    return settle(() => this.#drained().then(() => undefined))
  }

  shutdown(): Promise<ControlResult> {
    return settle(async () => {
      this.#paused = false
      await this.#drained()
      for (const index of [...this.#order].reverse()) await this.#stopSlot(this.#slot(index))
      this.#stopping = true
      this.#bell.wake()
      await this.#loop
      await this.#outbox.flushed()
      return undefined
    })
  }

  pause(): Promise<ControlResult> {
    this.#paused = true
    return Promise.resolve({ ok: true, value: undefined })
  }

  resume(): Promise<ControlResult> {
    this.#paused = false
    this.#bell.wake()
    return Promise.resolve({ ok: true, value: undefined })
  }

  stats(): Promise<ControlResult<SlotStats[]>> {
    const stats = this.#order.map((index) => {
      const slot = this.#slot(index)
      const h = slot.histogram
      return {
        slot: index,
        processed: slot.processed,
        dropped: slot.dropped,
        latencyUs: {
          p50: h.getValueAtPercentile(50),
          p99: h.getValueAtPercentile(99),
          p999: h.getValueAtPercentile(99.9),
        },
      }
    })
    return Promise.resolve({ ok: true, value: stats })
  }

  async #init(slot: Slot): Promise<void> {
    try {
      slot.value = await slot.definition.init(slot.args, this.#context(slot, undefined))
      slot.state = 'running'
    } catch (error) {
      slot.state = 'crashed'
      throw new ActorStartError(`actor "${slot.name}" failed in init: ${coerceError(error).message}`, { cause: error })
    }
  }

  async #stopSlot(slot: Slot): Promise<void> {
    if (slot.state === 'stopped') return
    const wasRunning = slot.state === 'running'
    slot.state = 'stopped'
    slot.abort.abort()
    if (wasRunning) await slot.definition.stop?.(slot.value, this.#context(slot, undefined))
  }

  #slot(index: number): Slot {
    const slot = this.#slots[index]
    if (slot === undefined) throw new InvalidArgumentError(`no actor in slot ${index} of thread "${this.thread}"`)
    return slot
  }

  async #drained(): Promise<void> {
    if (!this.#reader.hasFrames() && this.#busy === undefined) return
    await new Promise<void>((resolve) => {
      this.#drainWaiters.push(resolve)
      this.#bell.wake()
    })
  }

  async #run(): Promise<void> {
    const onFrame = (payload: Uint8Array) => this.#onFrame(payload)
    while (!this.#stopping) {
      const handled = this.#paused ? 0 : this.#reader.drain(onFrame, kBatch)
      if (this.#busy !== undefined) {
        await this.#busy
        continue
      }
      if (handled > 0) continue
      for (const resolve of this.#drainWaiters.splice(0)) resolve()
      await this.#bell.wait(
        () => this.#stopping || this.#drainWaiters.length > 0 || (!this.#paused && this.#reader.hasFrames()),
        Infinity,
        this.#paused ? 0 : this.#spinUs,
      )
    }
    for (const resolve of this.#drainWaiters.splice(0)) resolve()
  }

  /** Handles one frame; returns false to end the batch when a receive went async. */
  #onFrame(payload: Uint8Array): boolean {
    if (payload.length < kEnvelopeBytes)
      throw new ProtocolError(`frame of ${payload.length} bytes is shorter than an envelope`)
    const kind = payload[0] ?? 0
    const index = envelopeSlot(payload)
    const corr = kind === FrameKind.Ask ? envelopeCorr(payload) : 0
    const slot = this.#slots[index]
    if (slot?.state !== 'running') {
      if (slot !== undefined) slot.dropped++
      if (kind === FrameKind.Ask) {
        const name = slot?.name ?? `slot ${index}`
        this.#outbox.send(FrameKind.Fail, index, corr, new ActorCrashedError(`actor "${name}" is not running`))
      }
      return true
    }
    let msg: unknown
    try {
      msg = decodeBody(payload[1] ?? -1, payload.subarray(kEnvelopeBytes))
    } catch (error) {
      this.#answer(slot, kind, corr, coerceError(error), true)
      return true
    }
    return this.#deliver(slot, kind, corr, msg)
  }

  #deliver(slot: Slot, kind: number, corr: number, msg: unknown): boolean {
    const reply = kind === FrameKind.Ask ? { corr, done: false } : undefined
    const ctx = reply === undefined ? (slot.tellContext ??= this.#context(slot, undefined)) : this.#context(slot, reply)
    const timed = --this.#sampleCountdown <= 0
    const t0 = timed ? performance.now() : 0
    let next: unknown
    try {
      next = slot.definition.receive(slot.value, msg, ctx)
    } catch (error) {
      this.#crash(slot, kind, corr, error)
      return true
    }
    if (next instanceof Promise) {
      this.#busy = next
        .then(
          (value) => this.#done(slot, kind, corr, reply, value, timed, t0),
          (error: unknown) => this.#crash(slot, kind, corr, error),
        )
        .finally(() => {
          this.#busy = undefined
        })
      return false
    }
    this.#done(slot, kind, corr, reply, next, timed, t0)
    return true
  }

  #done(
    slot: Slot,
    kind: number,
    corr: number,
    reply: { done: boolean } | undefined,
    value: unknown,
    timed: boolean,
    t0: number,
  ): void {
    slot.value = value
    slot.processed++
    if (reply !== undefined && !reply.done) this.#answer(slot, kind, corr, undefined, false)
    if (timed) {
      this.#sampleCountdown = this.#sampleEvery
      slot.histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)))
    }
  }

  #crash(slot: Slot, kind: number, corr: number, error: unknown): void {
    slot.state = 'crashed'
    slot.processed++
    slot.abort.abort(error)
    const crash = new ActorCrashedError(`actor "${slot.name}" crashed: ${coerceError(error).message}`, { cause: error })
    if (kind === FrameKind.Ask) this.#outbox.send(FrameKind.Fail, slot.index, corr, crash)
    this.#outbox.send(FrameKind.Crash, slot.index, 0, crash)
  }

  #answer(slot: Slot, kind: number, corr: number, value: unknown, failed: boolean): void {
    if (kind !== FrameKind.Ask) {
      if (failed) slot.dropped++
      return
    }
    this.#outbox.send(failed ? FrameKind.Fail : FrameKind.Reply, slot.index, corr, value)
  }

  #context(slot: Slot, reply: { corr: number; done: boolean } | undefined): ActorContext {
    const outbox = this.#outbox
    return {
      name: slot.name,
      thread: this.thread,
      signal: slot.abort.signal,
      isAsk: reply !== undefined,
      reply(value: unknown) {
        if (reply === undefined || reply.done) return
        reply.done = true
        outbox.send(value instanceof Error ? FrameKind.Fail : FrameKind.Reply, slot.index, reply.corr, value)
      },
      emit(value: unknown) {
        outbox.send(FrameKind.Emit, slot.index, 0, value)
      },
      maxMessageBytes: outbox.maxBodyBytes,
    }
  }
}

/**
 * Frames from the thread to the runtime. The runtime drains them promptly, but when the ring is full
 * they wait here, in order, and a flusher writes them as space frees up. A reply too large for the
 * ring becomes a failure of its ask instead of an error in the actor.
 */
class Outbox {
  readonly #writer: RingWriter
  readonly #overflow: Uint8Array[] = []
  #flusher: Promise<void> | undefined

  constructor(writer: RingWriter) {
    this.#writer = writer
  }

  get maxBodyBytes(): number {
    return this.#writer.maxPayload - kEnvelopeBytes
  }

  send(kind: FrameKind, slot: number, corr: number, value: unknown): void {
    const [format, body] = encodeBody(value)
    const head = encodeHeader(kind, format, slot, corr)
    if (!this.#writer.fits(head.length + body.length)) {
      const what = kind === FrameKind.Emit ? 'message' : 'reply'
      const tooLarge = new InvalidArgumentError(
        `${what} of ${body.length} bytes exceeds the mailbox's largest frame (${this.#writer.maxPayload - head.length} bytes)`,
        {
          data: { option: what, length: body.length, maxBytes: this.maxBodyBytes },
        },
      )
      // An emit throws to its actor, which can split or refuse what it sends; a reply fails its ask.
      if (kind === FrameKind.Emit) throw tooLarge
      this.send(FrameKind.Fail, slot, corr, tooLarge)
      return
    }
    if (this.#overflow.length === 0 && this.#writer.tryWrite(head, body)) return
    const frame = new Uint8Array(head.length + body.length)
    frame.set(head)
    frame.set(body, head.length)
    this.#overflow.push(frame)
    this.#startFlush()
  }

  /**
   * Starts the flusher unless it runs. `#flusher` is cleared only once the flush promise settles (a
   * flush that wrote everything without waiting would otherwise clear it before `??=` stored it, and
   * leave a settled promise there: later frames would wait in the overflow for ever). A frame queued
   * between the flush's end and that settling starts a new flush.
   */
  #startFlush(): void {
    if (this.#flusher !== undefined) return
    this.#flusher = this.#flush().finally(() => {
      this.#flusher = undefined
      if (this.#overflow.length > 0 && !this.#writer.closed) this.#startFlush()
    })
  }

  /** Resolves once the overflow is written (or the ring closed). */
  async flushed(): Promise<void> {
    while (this.#flusher !== undefined) await this.#flusher
  }

  async #flush(): Promise<void> {
    for (let frame = this.#overflow[0]; frame !== undefined; frame = this.#overflow[0]) {
      if (!this.#writer.tryWrite(frame)) {
        if (!(await this.#writer.waitWritable(frame.length))) return
        continue
      }
      this.#overflow.shift()
    }
  }
}

async function loadDefinition(moduleUrl: string): Promise<ActorDefinition> {
  let mod: { default?: unknown }
  try {
    mod = (await import(moduleUrl)) as { default?: unknown }
  } catch (error) {
    throw new ActorStartError(`cannot load actor module ${moduleUrl}: ${coerceError(error).message}`, { cause: error })
  }
  if (!isActorDefinition(mod.default)) {
    throw new ActorStartError(`${moduleUrl} has no actor as its default export (use defineActor)`)
  }
  return mod.default
}

async function settle<T>(fn: () => Promise<T>): Promise<ControlResult<T>> {
  try {
    return { ok: true, value: await fn() }
  } catch (error) {
    return { ok: false, error: toWire(error) }
  }
}
