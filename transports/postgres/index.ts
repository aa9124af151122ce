/** The PostgreSQL transport: a pool with typed errors and transactions, the SQLSTATE table, migrations. */
export {
  classifySqlstate,
  CONNECTION_ERROR_CODES,
  CONNECTION_ERROR_MESSAGES,
  isRetryablePgError,
  mapPgError,
  SQLSTATE_CLASS_RULES,
  SQLSTATE_RULES,
  type SqlstateRule,
} from './errors.js'
export {
  DEFAULT_MIGRATION_SCHEMA,
  migrate,
  type MigrateOptions,
  type MigrateResult,
  migrationChecksum,
} from './migrate.js'
export { type Migration, PULSE_MIGRATIONS } from './migrations/index.js'
export {
  createPgPool,
  DEFAULT_PG_POOL_OPTIONS,
  type IsolationLevel,
  PgPool,
  type PgPoolOptions,
  type ResolvedPgPoolOptions,
  type TransactionOptions,
} from './pool.js'
