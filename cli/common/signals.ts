/** Stopping a long-running command (a tail, a watch) the way a user expects. */
/**
 * Aborts on SIGINT, SIGTERM, or stdout closed by its reader (`| head`), until disposed (the signals
 * then get their default meaning back).
 */
export function stopOnSignals(): { signal: AbortSignal; dispose(): void } {
  const stop = new AbortController()
  const onSignal = () => stop.abort()
  const onStdoutError = (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
    stop.abort()
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  process.stdout.on('error', onStdoutError)
  return {
    signal: stop.signal,
    dispose() {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      process.stdout.off('error', onStdoutError)
    },
  }
}
