import type { QueryResultRow } from 'pg'

/** What the job statements run on: a `pg.Pool`, a `pg.PoolClient` (inside a transaction) or a `pg.Client`. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>
}

/** The schema name as a quoted SQL identifier, for statements that name their tables. */
export function quoteSchema(schema: string): string {
  return `"${schema.replaceAll('"', '""')}"`
}
