/**
 * A server process that cannot outlive its owner.
 *
 * The server runs under a small `sh` guard whose standard input is a pipe from this process. The guard
 * starts the server in the background and blocks on `read`. The read returns when this process writes a
 * line (an orderly stop) or when the pipe closes because this process died, however it died (Ctrl-C,
 * kill -9, a crash). Either way the guard stops the server, waits for it, and, unless told `keep`,
 * removes the server's folder. So no redis-server or postgres is left behind and no temporary folder
 * either.
 *
 *   states: running --stop('keep')--> stopped (folder kept, can start again)
 *           running --stop('remove') or owner died--> gone (folder removed)
 *           running --kill()--> killed (the guard and the server die at once; the folder stays)
 *
 * `stop` is memoised: the first order holds and every call waits for the same exit (the guard reads one
 * line; a second write would go to a closed pipe).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'

export interface GuardedProcessOptions {
  /** The server's command and arguments. */
  command: string
  args: readonly string[]
  /** Signal the guard sends to stop the server (Redis: TERM, PostgreSQL: INT for a fast shutdown). */
  stopSignal: 'TERM' | 'INT'
  /** Folder the guard removes unless told to keep it. */
  dir: string
  /** Where the server's output goes. */
  logFile: string
  /** Run the guard and the server as this user (PostgreSQL refuses to run as root). */
  uid?: number
  gid?: number
}

const kGuardScript = String.raw`
"$@" >>"$PULSE_LOG" 2>&1 &
server=$!
read -r order
kill -$PULSE_STOP_SIGNAL $server 2>/dev/null
wait $server
if [ "$order" != keep ]; then rm -rf "$PULSE_DIR"; fi
`

export class GuardedProcess {
  readonly #child: ChildProcess
  readonly #exited: Promise<void>
  #stopping: Promise<void> | undefined

  constructor(options: GuardedProcessOptions) {
    this.#child = spawn('sh', ['-c', kGuardScript, 'pulse-guard', options.command, ...options.args], {
      stdio: ['pipe', 'ignore', 'inherit'],
      // Its own process group: a Ctrl-C reaches the owner, whose death closes the pipe.
      detached: true,
      env: {
        ...process.env,
        PULSE_LOG: options.logFile,
        PULSE_DIR: options.dir,
        PULSE_STOP_SIGNAL: options.stopSignal,
      },
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    })
    this.#exited = once(this.#child, 'exit').then(() => undefined)
    // A guard that died (killed) closes the pipe: its exit says so, the write's EPIPE need not.
    this.#child.stdin?.on('error', () => undefined)
  }

  get exited(): Promise<void> {
    return this.#exited
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null
  }

  /** Stops the server; `keep` leaves its folder for a later start. Memoised: the first order holds. */
  stop(order: 'keep' | 'remove'): Promise<void> {
    return (this.#stopping ??= this.#stop(order))
  }

  /** Kills the guard and the server at once (SIGKILL to their process group); the folder stays. */
  async kill(): Promise<void> {
    const pid = this.#child.pid
    if (this.running && pid !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL')
      } catch {
        // exited meanwhile
      }
    }
    await this.#exited
  }

  async #stop(order: 'keep' | 'remove'): Promise<void> {
    if (this.running) this.#child.stdin?.end(`${order}\n`)
    await this.#exited
  }
}
