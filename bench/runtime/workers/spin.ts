/** Busy-waits for `us` microseconds (a consumer that is slow on purpose, without sleeping). */
export function spinFor(us: number): void {
  const end = performance.now() + us / 1000
  while (performance.now() < end) {
    // spin
  }
}
