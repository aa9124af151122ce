import { createHash } from 'node:crypto'

import type { QueryConfig, QueryResultRow } from 'pg'

/** What the job statements run on: a `pg.Pool`, a `pg.PoolClient` (inside a transaction) or a `pg.Client`. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }>
}

/** The schema name as a quoted SQL identifier, for statements that name their tables. */
export function quoteSchema(schema: string): string {
  return `"${schema.replaceAll('"', '""')}"`
}

const names = new Map<string, string>()

/**
 * The name of `text` as a prepared statement: the same on every connection (a hash of the text), so a
 * connection parses a text once and runs it from its cached statement after that. For the fixed texts
 * of the hot paths only: every distinct text stays prepared on each connection that ran it.
 */
function statementName(text: string): string {
  let name = names.get(text)
  if (name === undefined) {
    name = `pulse_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`
    names.set(text, name)
  }
  return name
}

/** `text` with its values as a named prepared statement (`statementName`), for `query(config)`. */
export function preparedStatement(text: string, values?: unknown[]): QueryConfig {
  const name = statementName(text)
  return values === undefined ? { name, text } : { name, text, values }
}

/** The ids of a statement that returns them as one comma-separated text (`string_agg`); none for NULL. */
export function idList(text: string | null | undefined): string[] {
  return text === null || text === undefined || text === '' ? [] : text.split(',')
}

/**
 * A statement text built by `build(q)` once per schema, so a hot statement's text is the same string on
 * every call: not rebuilt, and its prepared name (`preparedStatement`) a lookup of an already hashed key.
 */
export function textPerSchema(build: (q: string) => string): (q: string) => string {
  const texts = new Map<string, string>()
  return (q) => {
    let text = texts.get(q)
    if (text === undefined) {
      text = build(q)
      texts.set(q, text)
    }
    return text
  }
}

const kDigitList = /^[0-9]+(,[0-9]+)*$/

/**
 * Decimal numbers (ids, lease tokens) as one array literal, `{1,2,3}`, for a `$n::bigint[]` parameter:
 * the driver would quote and escape each element. Anything but digits goes to the driver as it is (and
 * its error, if any, is the database's).
 */
export function bigintArray(values: readonly string[]): string | readonly string[] {
  const list = values.join(',')
  return kDigitList.test(list) ? `{${list}}` : values
}

/**
 * Strings as one array literal, `{"a","b\"c"}`, for a `$n::text[]` parameter: what the driver makes of
 * an array, but a run of equal strings (one job name for a whole batch) is escaped once, not per
 * element (~20 ns an element instead of ~180).
 */
export function textArray(values: readonly string[]): string {
  let literal = '{'
  let last: string | undefined
  let quoted = ''
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as string
    if (value !== last) {
      last = value
      quoted = `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
    }
    literal += i === 0 ? quoted : `,${quoted}`
  }
  return `${literal}}`
}

/** `name` in schema `q` (a quoted identifier) as a `regclass` literal, e.g. for `nextval`. */
export function regclassLiteral(q: string, name: string): string {
  return `'${`${q}.${name}`.replaceAll("'", "''")}'::regclass`
}
