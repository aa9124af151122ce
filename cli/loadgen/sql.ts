/** Plain SQL the targets run around a round: a fresh schema of their own, dropped afterwards. */
import pg from 'pg'

/** Runs `sql` on a short-lived client of `url`. */
export async function exec(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

/** Drops `schema` and everything in it, if it exists (`schema` is one of the load generator's names). */
export function dropSchema(url: string, schema: string): Promise<void> {
  return exec(url, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
}

/** The first column of the first row of `sql` as a number, on a short-lived client. */
export async function count(url: string, sql: string, values: readonly unknown[] = []): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query<{ n: string }>(sql, [...values])
    return Number(rows[0]?.n ?? 0)
  } finally {
    await client.end()
  }
}
