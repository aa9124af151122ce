export * from './enqueue.js'
export * from './hot-path.js'
export * from './queryable.js'
