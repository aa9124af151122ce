import { defineConfig } from 'vitest/config'

/**
 * The fault-injection scenarios (`npm run chaos`, test/chaos/): the same servers as the tests (the
 * global setup), one scenario file at a time (each runs processes of its own and would starve the
 * others), never part of `vitest run`'s default projects (their files end in `.chaos.ts`).
 */
export default defineConfig({
  test: {
    name: 'chaos',
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/leaks.ts'],
    include: ['test/chaos/**/*.chaos.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
})
