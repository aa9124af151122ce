/**
 * The chaos run's two forms: the short one (`npm run chaos`, in CI, at most five minutes) and the long one
 * (`npm run chaos -- --long`: more work, more faults, and the soak). run.ts sets `PULSE_CHAOS_LONG=1` for the
 * long form; a scenario sizes itself with `chaosSize`.
 */
export const longForm = process.env.PULSE_CHAOS_LONG === '1'

/** `short` in the short form, `long` in the long one. */
export function chaosSize<T>(short: T, long: T): T {
  return longForm ? long : short
}
