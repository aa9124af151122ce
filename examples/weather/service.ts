// The life of one weather service process under `pulse supervise`: it starts the service, tells the
// supervisor it is ready (the `ready: true` of supervise.json), waits for SIGTERM or SIGINT, then
// closes what the service opened and lets the process end by itself. Should something stay open, the
// process says what and exits 1 after a grace period rather than hang until the supervisor's SIGKILL.

/** Closes what a service opened. */
export type CloseService = () => Promise<void>

/** Opens a service; `signal` aborts once a stop was asked for. */
export type StartService = (signal: AbortSignal, log: Log) => Promise<CloseService>

export type Log = (message: string) => void

const kSignals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']
/** How long the process may linger once closed before it counts as a leak. */
const kLingerMs = 3_000

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

/** An AbortController aborted by the first SIGTERM / SIGINT; later ones are noted and ignored. */
function stopOnSignals(log: Log): { signal: AbortSignal; release(): void } {
  const stop = new AbortController()
  const onSignal = (name: NodeJS.Signals) => {
    log(stop.signal.aborted ? `${name} again: already closing` : `${name}: closing`)
    stop.abort()
  }
  for (const name of kSignals) process.on(name, onSignal)
  return { signal: stop.signal, release: () => kSignals.forEach((name) => process.off(name, onSignal)) }
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}

function exitIfLingering(log: Log): void {
  setTimeout(() => {
    log(`still running ${kLingerMs} ms after close: ${process.getActiveResourcesInfo().join(', ')}`)
    process.exit(1)
  }, kLingerMs).unref()
}

/** Runs `start` as the service `name` until a signal, then closes it. */
export async function runService(name: string, start: StartService): Promise<void> {
  const log: Log = (message) => console.log(`${name}: ${message}`)
  log(`started pid=${process.pid}`)
  const stop = stopOnSignals(log)
  let close: CloseService
  try {
    close = await start(stop.signal, log)
  } catch (error) {
    // A stop asked for while starting is no failure; anything else is.
    log(`${stop.signal.aborted ? 'stopped while starting' : 'could not start'}: ${describe(error)}`)
    process.exit(stop.signal.aborted ? 0 : 1)
  }
  process.send?.('ready')
  log('ready')
  await aborted(stop.signal)
  try {
    await close()
    log('closed')
  } catch (error) {
    log(`close failed: ${describe(error)}`)
    process.exitCode = 1
  }
  stop.release()
  exitIfLingering(log)
}
