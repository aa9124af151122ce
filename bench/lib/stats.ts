/** Summaries and number formatting for benchmark tables: median [min–max], rates, durations. */

export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN }
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! }
}

/** "25.3 M" style: three significant digits with a k/M/G suffix. */
export function si(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  const abs = Math.abs(n)
  if (abs >= 1e9) return `${sig(n / 1e9)} G`
  if (abs >= 1e6) return `${sig(n / 1e6)} M`
  if (abs >= 1e3) return `${sig(n / 1e3)} k`
  return sig(n)
}

/** Three significant digits, no exponent. */
export function sig(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  const abs = Math.abs(n)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3
  return n.toFixed(digits)
}

/** `median [min–max]` with the given formatter for each number. */
export function fmtSummary(s: Summary, fmt: (n: number) => string = sig, unit = ''): string {
  return `${fmt(s.median)}${unit} [${fmt(s.min)}–${fmt(s.max)}]`
}

export function fmtRate(values: readonly number[], unit = 'msgs/s'): string {
  const s = summarize(values)
  const strip = (n: number) => si(n).replace(' ', '')
  return `${si(s.median)} ${unit} [${strip(s.min)}–${strip(s.max)}]`
}

export function fmtRatio(values: readonly number[]): string {
  return fmtSummary(summarize(values), ratio, '×')
}

function ratio(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  return n >= 10 ? n.toFixed(1) : n >= 1 ? n.toFixed(2) : n.toFixed(3)
}

/** A markdown table. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${headers.join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n')
}

/** Per-round ratios a[i] / b[i] (same round, same conditions). */
export function ratios(a: readonly number[], b: readonly number[]): number[] {
  return a.map((x, i) => x / (b[i] ?? Number.NaN))
}
