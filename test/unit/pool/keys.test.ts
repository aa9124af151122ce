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
  poolKeyPrefix,
} from '../../../transports/redis/pool/keys.js'

// The layout of docs/redis-layout.md, "Pools".
describe('pool key layout (compat)', () => {
  it('names the maps after the pool', () => {
    expect(shutdownMapName('P', 'compat')).toBe('P:shutdown')
    expect(nodeKeepAliveMapName('P', 'compat')).toBe('P:node-keepalive')
    expect(workerMapName('P', 'compat')).toBe('P:workers')
    expect(workerKeepAliveMapName('P', 'compat')).toBe('P:worker-keepalive')
    expect(cleanupMapName('P', 'compat')).toBe('P:cleanup')
    expect(jobMapName('P', 'compat')).toBe('P:jobs')
    expect(pendingJobMapName('P', 'compat')).toBe('P:pending-jobs')
    expect(jobPayloadMapName('P', 'compat')).toBe('P:job-payloads')
    expect(tickerMapName('P', 'compat')).toBe('P:tickers')
    expect(tickerKey('P', 'rollup')).toBe('P:rollup')
    expect(schedulerMapName('P', 'reconcile', 'compat')).toBe('P:reconcile')
  })

  it('lists the pool maps in the reference order, and the client-only ones', () => {
    expect(poolMapNames('email', 'compat')).toEqual([
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
    expect(clientMapNames('email', 'compat')).toEqual(['email:shutdown', 'email:node-keepalive'])
  })

  it('names the streams, the worker stream not pool-scoped', () => {
    expect(poolStreamName('P', 'compat')).toBe('P:pool')
    expect(nodeStreamName('P', '01HNODE', 'compat')).toBe('P:node:01HNODE')
    expect(workerStreamName('P', '01HWORKER', 'compat')).toBe('worker:01HWORKER')
    expect(streamKey(poolStreamName('P', 'compat'))).toBe('pulse:stream:P:pool')
    expect(streamKey(workerStreamName('P', 'W', 'compat'))).toBe('pulse:stream:worker:W')
  })

  it('gives the Redis keys of a map (rmap layout)', () => {
    expect(mapKeys(jobMapName('P', 'compat'), 'compat')).toEqual({
      content: 'map:P:jobs:content',
      updates: 'map:P:jobs:updates',
    })
  })

  it('has the reference constants', () => {
    expect(kShutdownField).toBe('shutdown')
    expect(kWorkerRemoving).toBe('-')
    expect(kPoolSinkName).toBe('events')
    expect(pendingEventKey('W1', '1-0')).toBe('W1:1-0')
  })
})

// The cluster layout (transports/redis/pool/keys.ts): every key of a pool holds `{P}`, one hash slot.
describe('pool key layout (cluster)', () => {
  it('builds every name of the pool from {P}, the worker streams included', () => {
    expect(poolKeyPrefix('P', 'cluster')).toBe('{P}')
    expect(poolMapNames('email', 'cluster')).toEqual([
      '{email}:node-keepalive',
      '{email}:shutdown',
      '{email}:workers',
      '{email}:worker-keepalive',
      '{email}:cleanup',
      '{email}:jobs',
      '{email}:pending-jobs',
      '{email}:job-payloads',
      '{email}:tickers',
    ])
    expect(clientMapNames('P', 'cluster')).toEqual(['{P}:shutdown', '{P}:node-keepalive'])
    expect(schedulerMapName('P', 'reconcile', 'cluster')).toBe('{P}:reconcile')
    expect(streamKey(poolStreamName('P', 'cluster'))).toBe('pulse:stream:{P}:pool')
    expect(streamKey(nodeStreamName('P', 'N', 'cluster'))).toBe('pulse:stream:{P}:node:N')
    expect(streamKey(workerStreamName('P', 'W', 'cluster'))).toBe('pulse:stream:{P}:worker:W')
    expect(mapKeys(jobMapName('P', 'cluster'), 'cluster')).toEqual({
      content: 'map:{P}:jobs:content',
      updates: 'map:{P}:jobs:updates',
    })
  })

  it('keeps a ticker key a plain map field', () => {
    expect(tickerKey('P', 'rollup')).toBe('P:rollup')
  })

  it('uses a pool name that already holds a hash tag as it is', () => {
    expect(workerMapName('{tenant}:email', 'cluster')).toBe('{tenant}:email:workers')
    expect(streamKey(workerStreamName('{tenant}:email', 'W', 'cluster'))).toBe('pulse:stream:{tenant}:email:worker:W')
    expect(workerMapName('{tenant}:email', 'compat')).toBe('{tenant}:email:workers')
  })
})
