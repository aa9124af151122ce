import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real Redis and PostgreSQL servers for the whole run (or REDIS_URL / DATABASE_URL when set).
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/leaks.ts'],
    // Tests spawn worker threads and child processes; a process per file keeps them apart.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    reporters: ['default', ['json', { outputFile: '.vitest-results.json' }]],
  },
})
