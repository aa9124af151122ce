/** Every page of the dashboard, in the order of the navigation. */
import type { PageRoute } from '../page.js'
import { AUDIT_ROUTES } from './audit.js'
import { DISPATCH_ROUTES } from './dispatch.js'
import { JOB_ROUTES } from './job.js'
import { JOBS_ROUTES } from './jobs.js'
import { MAP_ROUTES } from './maps.js'
import { OVERVIEW_ROUTES } from './overview.js'
import { POOL_ROUTES } from './pools.js'
import { RUNTIME_ROUTES } from './runtime.js'
import { SCHEDULES_ROUTES } from './schedules.js'
import { STREAM_ROUTES } from './streams.js'

export const PAGES: readonly PageRoute[] = [
  ...OVERVIEW_ROUTES,
  // The jobs list and its bulk pages before the job pages: `/jobs/confirm` is not a job id.
  ...JOBS_ROUTES,
  ...JOB_ROUTES,
  ...SCHEDULES_ROUTES,
  ...DISPATCH_ROUTES,
  ...AUDIT_ROUTES,
  ...STREAM_ROUTES,
  ...POOL_ROUTES,
  ...MAP_ROUTES,
  ...RUNTIME_ROUTES,
]
