/**
 * What commands print: one JSON document on stdout with `--json`, a table (cli-table3) otherwise.
 * Cells are plain text: control characters in values (a job's name, an error's message) are escaped,
 * so a hostile value cannot move the cursor or clear an operator's terminal.
 */
import Table from 'cli-table3'

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

// eslint-disable-next-line no-control-regex
const kControl = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g

/** `value` as one table cell: dates as ISO text, objects as JSON, control characters escaped. */
export function cell(value: unknown): string {
  if (value === undefined || value === null) return ''
  if (value instanceof Date) return value.toISOString()
  const text =
    typeof value === 'string'
      ? value
      : typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint'
        ? String(value)
        : (JSON.stringify(value) ?? '')
  return text.replace(kControl, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** The text of a table with a header row; `rows` are cell values in the header's order. */
export function tableText(head: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const table = new Table({ head: [...head], style: { head: [], border: [] } })
  for (const row of rows) table.push(row.map(cell))
  return table.toString()
}

/** The text of a two-column table, field and value, for one record. */
export function recordText(record: Readonly<Record<string, unknown>>): string {
  const table = new Table({ style: { head: [], border: [] } })
  for (const [key, value] of Object.entries(record)) table.push({ [key]: cell(value) })
  return table.toString()
}

/** Prints `tableText(head, rows)`. */
export function printTable(head: readonly string[], rows: readonly (readonly unknown[])[]): void {
  process.stdout.write(`${tableText(head, rows)}\n`)
}

/** Prints `recordText(record)`. */
export function printRecord(record: Readonly<Record<string, unknown>>): void {
  process.stdout.write(`${recordText(record)}\n`)
}

/** Prints `value` as JSON with `json`, else through `human`. */
export function print<T>(json: boolean | undefined, value: T, human: (value: T) => void): void {
  if (json === true) printJson(value)
  else human(value)
}
