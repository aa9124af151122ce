/**
 * The peers the load generator can run beside Pulse, each for the workloads it has (BullMQ: jobs and
 * sinks; pg-boss and graphile-worker: jobs), at the versions this package is measured against. Each
 * is imported only when asked for: a peer that is not installed is reported with the command that
 * adds it, and the run goes on without it.
 */
import type { ServerKind, TargetFactory, Workload } from '../types.js'

export const PEERS = ['bullmq', 'pg-boss', 'graphile-worker'] as const
export type PeerName = (typeof PEERS)[number]

interface PeerInfo {
  readonly version: string
  readonly server: ServerKind
  readonly workloads: readonly Workload[]
  load(): Promise<Partial<Record<Workload, TargetFactory>>>
}

const kPeers: Readonly<Record<PeerName, PeerInfo>> = {
  bullmq: {
    version: '5.81.5',
    server: 'redis',
    workloads: ['jobs', 'sinks'],
    load: async () => (await import('./bullmq.js')).bullmqTargets(await import('bullmq')),
  },
  'pg-boss': {
    version: '12.38.0',
    server: 'postgres',
    workloads: ['jobs'],
    load: async () => (await import('./pg-boss.js')).pgBossTargets(await import('pg-boss')),
  },
  'graphile-worker': {
    version: '0.18.0',
    server: 'postgres',
    workloads: ['jobs'],
    load: async () => (await import('./graphile-worker.js')).graphileTargets(await import('graphile-worker')),
  },
}

export function isPeer(name: string): name is PeerName {
  return (PEERS as readonly string[]).includes(name)
}

export function peerWorkloads(name: PeerName): readonly Workload[] {
  return kPeers[name].workloads
}

export function peerServer(name: PeerName): ServerKind {
  return kPeers[name].server
}

/** A peer that could not be imported, and how to add it. */
export interface MissingPeer {
  readonly peer: PeerName
  readonly install: string
  readonly reason: string
}

export type LoadedPeer =
  { readonly peer: PeerName; readonly targets: Partial<Record<Workload, TargetFactory>> } | MissingPeer

function notInstalled(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
}

/** Imports `name`; a module that is not installed resolves to a `MissingPeer`, another failure throws. */
export async function loadPeer(name: PeerName): Promise<LoadedPeer> {
  const info = kPeers[name]
  try {
    return { peer: name, targets: await info.load() }
  } catch (error) {
    if (!notInstalled(error)) throw error
    const install = `npm install --save-dev ${name}@${info.version}`
    return { peer: name, install, reason: `${name} is not installed` }
  }
}
