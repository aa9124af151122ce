/**
 * What a benchmark ran on: machine, Node, CPU model, load, package versions and the git commit. Every
 * suite prints it with its results, because numbers without the machine mean nothing.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { dirname, join } from 'node:path'

export interface BenchEnv {
  readonly date: string
  readonly node: string
  readonly v8: string
  readonly platform: string
  readonly kernel: string
  readonly cpuModel: string
  readonly cpuMHz: string
  readonly cores: number
  readonly memoryGiB: number
  readonly loadAvg: string
  readonly commit: string
  readonly dirty: boolean
  readonly packages: Readonly<Record<string, string>>
}

const require = createRequire(import.meta.url)

export function captureEnv(packages: readonly string[] = []): BenchEnv {
  const cpuinfo = safe(() => readFileSync('/proc/cpuinfo', 'utf8'), '')
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform} ${process.arch}`,
    kernel: os.release(),
    cpuModel: field(cpuinfo, 'model name') ?? os.cpus()[0]?.model ?? 'unknown',
    cpuMHz: field(cpuinfo, 'cpu MHz') ?? String(os.cpus()[0]?.speed ?? '?'),
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAvg: os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(' '),
    commit: safe(() => git('rev-parse', '--short=12', 'HEAD'), 'unknown'),
    // The results and plots a run writes do not count: a full run replaces the committed ones.
    dirty: safe(
      () =>
        git(
          'status',
          '--porcelain',
          '--untracked-files=no',
          '--',
          ':(top)',
          ':(top,exclude)bench/results',
          ':(top,exclude)bench/plots',
        ).length > 0,
      false,
    ),
    packages: Object.fromEntries(packages.map((name) => [name, packageVersion(name)])),
  }
}

export function envMarkdown(env: BenchEnv): string {
  const rows: [string, string][] = [
    ['date', env.date],
    ['commit', `${env.commit}${env.dirty ? ' (work tree has uncommitted changes)' : ''}`],
    ['CPU', `${env.cores} × "${env.cpuModel}" @ ${env.cpuMHz} MHz`],
    ['memory', `${env.memoryGiB} GiB`],
    ['OS', `${env.platform}, kernel ${env.kernel}`],
    ['load average at start (1/5/15 min)', env.loadAvg],
    ['Node / V8', `${env.node} / ${env.v8}`],
    ...Object.entries(env.packages).map(([name, version]): [string, string] => [name, version]),
  ]
  return ['| item | value |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n')
}

function field(cpuinfo: string, name: string): string | undefined {
  const line = cpuinfo.split('\n').find((l) => l.startsWith(name))
  return line?.split(':')[1]?.trim()
}

function git(...args: string[]): string {
  return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
}

/** The installed version of a package (found from its entry point: not every package exports package.json). */
function packageVersion(name: string): string {
  return safe(() => {
    for (let dir = dirname(require.resolve(name)); dir !== dirname(dir); dir = dirname(dir)) {
      const file = join(dir, 'package.json')
      if (!existsSync(file)) continue
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }
      if (pkg.name === name) return pkg.version ?? 'unknown'
    }
    return 'unknown'
  }, 'unknown')
}

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn()
  } catch {
    return fallback
  }
}
