import { configDefaults, defineConfig } from 'vitest/config'

/** What every project shares. */
const common = {
  setupFiles: ['test/helpers/leaks.ts'],
  // Tests spawn worker threads and child processes; a process per file keeps them apart.
  pool: 'forks' as const,
  testTimeout: 30_000,
  hookTimeout: 60_000,
  teardownTimeout: 30_000,
}

export default defineConfig({
  test: {
    // Real Redis, PostgreSQL and PgBouncer servers for the whole run (or REDIS_URL / DATABASE_URL when
    // set), started once for every project (none with PULSE_TEST_SERVERS=none).
    globalSetup: ['test/helpers/global-setup.ts'],
    ...common,
    reporters: ['default', ['json', { outputFile: '.vitest-results.json' }]],
    projects: [
      // No server needed: `npm run test:unit` runs this project alone, with no server started.
      { test: { ...common, name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          ...common,
          name: 'direct',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/unit/**'],
        },
      },
      {
        // The job queue's integration tests again, through PgBouncer in transaction mode
        // (test/helpers/postgres.ts); pgbouncer.test.ts runs once, in `direct`, with PgBouncers of its own.
        test: {
          ...common,
          name: 'pgbouncer',
          include: ['test/integration/jobs/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/integration/jobs/pgbouncer.test.ts'],
          env: { PULSE_TEST_PGBOUNCER: '1' },
        },
      },
    ],
  },
})
