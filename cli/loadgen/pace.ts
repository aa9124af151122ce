/**
 * The paced producer: a 1 ms timer sends what is due (rate × elapsed − sent) until `durationMs` has
 * passed, one `send` per operation with its stamp (performance.now() when sent), none awaited in
 * sequence. The load generator's `--rate` and the job benchmark's steady phase (bench/jobs/steady.ts)
 * both use it.
 */

/**
 * Calls `send(stamp)` `rate` times a second for `durationMs`: `floor(rate × durationMs / 1000)` sends in
 * all. Resolves to how many it sent.
 */
export function pace(rate: number, durationMs: number, send: (stamp: number) => void): Promise<number> {
  const start = performance.now()
  const end = start + durationMs
  const total = Math.floor((rate * durationMs) / 1000)
  let sent = 0
  return new Promise((resolve) => {
    const tick = (): void => {
      const now = performance.now()
      const due = now >= end ? total : Math.min(total, Math.floor(((now - start) * rate) / 1000))
      while (sent < due) {
        sent++
        send(performance.now())
      }
      if (now >= end) {
        clearInterval(timer)
        resolve(sent)
      }
    }
    const timer = setInterval(tick, 1)
  })
}
