/**
 * The CLI through PgBouncer in transaction mode (PULSE_PG_TRANSACTION_POOLER=1): migrating, submitting,
 * listing and operator calls keep no session state, so they work through the pooler.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { pulseJson, runPulse } from '../../helpers/cli.js'
import { createTestDatabase, type TestDatabase, withDatabase } from '../../helpers/postgres.js'
import { pgbouncerUrl } from '../../helpers/servers.js'

let db: TestDatabase
let env: Record<string, string>

beforeAll(async () => {
  db = await createTestDatabase()
  env = {
    DATABASE_URL: withDatabase(pgbouncerUrl(), db.name),
    PULSE_PG_TRANSACTION_POOLER: '1',
    PULSE_SCHEMA: 'cli_bouncer',
    USER: 'ada',
  }
})

afterAll(async () => {
  await db.drop()
})

describe('pulse through PgBouncer (transaction mode)', () => {
  it('migrates, submits, lists, pauses and resumes', async () => {
    const { id } = await pulseJson<{ id: string }>(['submit', 'email', '{"to":"a@b.c"}'], { env })
    expect(id).toMatch(/^\d+$/)
    const again = await pulseJson<{ id: string }>(['submit', 'email', '{"to":"d@e.f"}'], { env })
    const list = await pulseJson<{ jobs: { id: string; status: string }[] }>(['jobs', 'list', '--name', 'email'], {
      env,
    })
    expect(list.jobs.map((job) => job.id).sort()).toEqual([id, again.id].sort())
    expect((await runPulse(['dispatch', 'pause', '-m', 'maintenance'], { env })).code).toBe(0)
    expect((await runPulse(['dispatch', 'resume'], { env })).code).toBe(0)
  })
})
