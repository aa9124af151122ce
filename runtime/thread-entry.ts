/**
 * The entry module of an actor thread. It takes the rings and doorbells handed over in `workerData`,
 * starts the `ActorHost` loop, and serves the control plane with comlink on the given port. It opens
 * no sockets at load; actor modules do what they need in `init`.
 */
import { workerData } from 'node:worker_threads'

import * as Comlink from 'comlink'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'

import { ActorHost } from './actor-host.js'
import type { ThreadBoot, ThreadControl } from './protocol.js'
import { Doorbell } from './ring/doorbell.js'
import { RingReader, RingWriter } from './ring/ring-buffer.js'

const boot = workerData as ThreadBoot
const host = new ActorHost(
  boot.thread,
  new RingReader(boot.inbound),
  new Doorbell(boot.threadBell),
  new RingWriter(boot.outbound, new Doorbell(boot.runtimeBell)),
  boot.latencySampleEvery,
  boot.spinUs,
)

const control: ThreadControl = {
  spawn: (slot, moduleUrl, name, args) => host.spawn(slot, moduleUrl, name, args),
  restart: (slot) => host.restart(slot),
  stopActor: (slot) => host.stopActor(slot),
  drain: () => host.drain(),
  shutdown: async () => {
    const result = await host.shutdown()
    // Let comlink send this answer, then release the port so the thread can end by itself.
    setImmediate(() => boot.control.close())
    return result
  },
  pause: () => host.pause(),
  resume: () => host.resume(),
  stats: () => host.stats(),
}

Comlink.expose(control, nodeEndpoint(boot.control))
host.start()
