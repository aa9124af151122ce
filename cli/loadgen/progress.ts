/**
 * The run's progress bar (cli-progress) on standard error when it is a terminal: operations delivered
 * of those planned, and the workload and system at work. Elsewhere it does nothing.
 */
import { Presets, SingleBar } from 'cli-progress'

export interface Progress {
  /** Names what runs now. */
  label(text: string): void
  /** One more operation delivered. */
  tick(): void
  stop(): void
}

export function progressBar(total: number): Progress {
  if (process.stderr.isTTY !== true) return { label() {}, tick() {}, stop() {} }
  const bar = new SingleBar(
    { format: 'loadgen {bar} {value}/{total} {label}', stream: process.stderr, fps: 10 },
    Presets.shades_classic,
  )
  bar.start(total, 0, { label: '' })
  let done = 0
  const timer = setInterval(() => bar.update(done), 100)
  return {
    label: (text) => bar.update(done, { label: text }),
    tick: () => void done++,
    stop() {
      clearInterval(timer)
      bar.update(done)
      bar.stop()
    },
  }
}
