/** The statuses of a job row (the `jobs.status` CHECK constraint), in lifecycle order. */
export const JOB_STATUSES = Object.freeze(['pending', 'running', 'retrying', 'completed', 'dead', 'canceled'] as const)

export type JobStatus = (typeof JOB_STATUSES)[number]

/** The statuses a job can be canceled from. */
export const CANCELABLE_STATUSES: readonly JobStatus[] = Object.freeze(['pending', 'running', 'retrying'])

/** The statuses a job can be requeued from (the dead-letter queue). */
export const REQUEUABLE_STATUSES: readonly JobStatus[] = Object.freeze(['dead'])
