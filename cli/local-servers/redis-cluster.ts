/**
 * A Redis Cluster on 127.0.0.1 for tests and benchmarks: `masters` redis-servers with
 * `--cluster-enabled yes`, each with `replicasPerMaster` replicas, joined by `redis-cli --cluster create`
 * and ready once every node reports `cluster_state:ok` and agrees on the slots. Each node is a
 * `LocalRedis` (guarded: it stops when its owner dies); `close()` stops them all. It is a
 * `Destroyable` (runtime/lifecycle.ts): `close()` is memoised and bounded by
 * `kLocalServerCloseTimeoutMs`; `destroy()` kills every node at once.
 *
 * `url` is the cluster's `redis-cluster://host:port,host:port,…` form (every node a startup node), which
 * `createRedis` accepts (transports/redis/cluster-url.ts).
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

import { coerceError, PulseError } from '../../runtime/errors.js'
import { Destroyable } from '../../runtime/lifecycle.js'
import { which } from './binaries.js'
import { kLocalServerCloseTimeoutMs, LocalRedis } from './redis-server.js'

const run = promisify(execFile)

export interface LocalRedisClusterOptions {
  /** @default 3 */
  masters?: number
  /** @default 1 */
  replicasPerMaster?: number
  /** How long a node may be unreachable before the cluster fails it over. @default 2000 */
  nodeTimeoutMs?: number
  /** Bound of the start: servers up, cluster created, every node `cluster_state:ok`. @default 30000 */
  readyTimeoutMs?: number
}

export class LocalRedisCluster extends Destroyable {
  /** Every node, masters first (as created; a failover changes roles, not this order). */
  readonly nodes: readonly LocalRedis[]
  readonly #readyTimeoutMs: number

  private constructor(nodes: readonly LocalRedis[], readyTimeoutMs: number) {
    super({ name: 'local Redis Cluster', closeTimeoutMs: kLocalServerCloseTimeoutMs })
    this.nodes = nodes
    this.#readyTimeoutMs = readyTimeoutMs
  }

  static async start(options: LocalRedisClusterOptions = {}): Promise<LocalRedisCluster> {
    const masters = options.masters ?? 3
    const replicas = options.replicasPerMaster ?? 1
    const nodeTimeout = String(options.nodeTimeoutMs ?? 2_000)
    const extraArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf']
    const nodes: LocalRedis[] = []
    try {
      for (let i = 0; i < masters * (1 + replicas); i += 1) {
        nodes.push(await LocalRedis.start({ extraArgs: [...extraArgs, '--cluster-node-timeout', nodeTimeout] }))
      }
      const cluster = new LocalRedisCluster(nodes, options.readyTimeoutMs ?? 30_000)
      await cluster.#create(replicas)
      await cluster.waitHealthy()
      return cluster
    } catch (error) {
      await Promise.allSettled(nodes.map((node) => node.close()))
      throw error
    }
  }

  /** `redis-cluster://127.0.0.1:<port>,…`: every node. */
  get url(): string {
    return `redis-cluster://${this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',')}`
  }

  /** The ports of the nodes that are masters now (asked of a running node). */
  async masterPorts(): Promise<number[]> {
    const ports: number[] = []
    for (const line of (await this.#ask(['CLUSTER', 'NODES'])).split('\n')) {
      // <id> <ip:port@cport> <flags,…> …
      const [, address = '', flags = ''] = line.split(' ')
      const roles = flags.split(',')
      if (roles.includes('master') && !roles.some((flag) => flag.startsWith('fail'))) {
        ports.push(Number(address.slice(address.lastIndexOf(':') + 1, address.indexOf('@'))))
      }
    }
    return ports
  }

  /**
   * Resolves once every running node reports `cluster_state:ok`, every running replica's link to its
   * master is up (a replica that never synced would not take over), and no master is down — after a
   * failover, once the replica is promoted.
   */
  async waitHealthy(): Promise<void> {
    const deadline = Date.now() + this.#readyTimeoutMs
    let last = ''
    while (Date.now() < deadline) {
      last = await this.#health().catch((error: unknown) => String(error))
      if (last === 'ok') return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new PulseError('PULSE_ERR_INTERNAL', `the local Redis Cluster did not become healthy: ${last}`)
  }

  /** Stops every node and removes their folders; one node's failure does not keep the others running. */
  protected async onClose(): Promise<void> {
    const failures = (await Promise.allSettled(this.nodes.map((node) => node.close())))
      .filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected')
      .map((outcome) => coerceError(outcome.reason))
    const [only] = failures
    if (only !== undefined && failures.length === 1) throw only
    if (failures.length > 1) throw new AggregateError(failures, 'closing the local Redis Cluster failed')
  }

  protected override async onDestroy(reason: Error | undefined): Promise<void> {
    await Promise.allSettled(this.nodes.map((node) => node.destroy(reason)))
  }

  async #create(replicas: number): Promise<void> {
    const addresses = this.nodes.map((node) => `127.0.0.1:${node.port}`)
    await run(cli(), ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'], {
      timeout: this.#readyTimeoutMs,
    })
  }

  /** 'ok', or what is not yet. */
  async #health(): Promise<string> {
    const running = this.nodes.filter((node) => node.running)
    const masters = new Set(await this.masterPorts())
    for (const node of running) {
      const info = await this.#ask(['CLUSTER', 'INFO'], node.port)
      if (!info.includes('cluster_state:ok')) return `node ${node.port}: not cluster_state:ok`
      const replication = await this.#ask(['INFO', 'replication'], node.port)
      if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) {
        return `replica ${node.port}: its link to its master is not up`
      }
    }
    const runningPorts = new Set(running.map((node) => node.port))
    for (const port of masters) if (!runningPorts.has(port)) return `master ${port} is down`
    return 'ok'
  }

  async #ask(command: readonly string[], port?: number): Promise<string> {
    const target = port ?? this.nodes.find((node) => node.running)?.port
    if (target === undefined) throw new PulseError('PULSE_ERR_INTERNAL', 'no node of the cluster runs')
    const { stdout } = await run(cli(), ['-h', '127.0.0.1', '-p', String(target), ...command], { timeout: 5_000 })
    return stdout
  }
}

function cli(): string {
  const found = process.env.PULSE_REDIS_CLI ?? which('redis-cli')
  if (found !== undefined) return found
  throw new PulseError(
    'PULSE_ERR_INTERNAL',
    'redis-cli is not installed: run `sudo apt-get install -y redis-tools` (or `npm run setup`)',
  )
}
