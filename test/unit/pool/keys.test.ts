import { describe, expect, it } from 'vitest'

import {
  cleanupMapName,
  clientMapNames,
  jobMapName,
  jobPayloadMapName,
  kPoolSinkName,
  kShutdownField,
  kWorkerRemoving,
  mapKeys,
  nodeKeepAliveMapName,
  nodeStreamName,
  pendingEventKey,
  pendingJobMapName,
  poolMapNames,
  poolStreamName,
  schedulerMapName,
  shutdownMapName,
  streamKey,
  tickerKey,
  tickerMapName,
  workerKeepAliveMapName,
  workerMapName,
  workerStreamName,
} from '../../../transports/redis/pool/keys.js'

// The layout of docs/redis-layout.md, "Pools".
describe('pool key layout', () => {
  it('names the maps after the pool', () => {
    expect(shutdownMapName('P')).toBe('P:shutdown')
    expect(nodeKeepAliveMapName('P')).toBe('P:node-keepalive')
    expect(workerMapName('P')).toBe('P:workers')
    expect(workerKeepAliveMapName('P')).toBe('P:worker-keepalive')
    expect(cleanupMapName('P')).toBe('P:cleanup')
    expect(jobMapName('P')).toBe('P:jobs')
    expect(pendingJobMapName('P')).toBe('P:pending-jobs')
    expect(jobPayloadMapName('P')).toBe('P:job-payloads')
    expect(tickerMapName('P')).toBe('P:tickers')
    expect(tickerKey('P', 'rollup')).toBe('P:rollup')
    expect(schedulerMapName('P', 'reconcile')).toBe('P:reconcile')
  })

  it('lists the pool maps in the reference order, and the client-only ones', () => {
    expect(poolMapNames('email')).toEqual([
      'email:node-keepalive',
      'email:shutdown',
      'email:workers',
      'email:worker-keepalive',
      'email:cleanup',
      'email:jobs',
      'email:pending-jobs',
      'email:job-payloads',
      'email:tickers',
    ])
    expect(clientMapNames('email')).toEqual(['email:shutdown', 'email:node-keepalive'])
  })

  it('names the streams, the worker stream not pool-scoped', () => {
    expect(poolStreamName('P')).toBe('P:pool')
    expect(nodeStreamName('P', '01HNODE')).toBe('P:node:01HNODE')
    expect(workerStreamName('01HWORKER')).toBe('worker:01HWORKER')
    expect(streamKey(poolStreamName('P'))).toBe('pulse:stream:P:pool')
    expect(streamKey(workerStreamName('W'))).toBe('pulse:stream:worker:W')
  })

  it('gives the Redis keys of a map (rmap layout)', () => {
    expect(mapKeys(jobMapName('P'))).toEqual({ content: 'map:P:jobs:content', updates: 'map:P:jobs:updates' })
  })

  it('has the reference constants', () => {
    expect(kShutdownField).toBe('shutdown')
    expect(kWorkerRemoving).toBe('-')
    expect(kPoolSinkName).toBe('events')
    expect(pendingEventKey('W1', '1-0')).toBe('W1:1-0')
  })
})
