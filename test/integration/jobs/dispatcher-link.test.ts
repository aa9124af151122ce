/**
 * The dispatcher link's close steps (actors/jobs/dispatcher-link.ts) when no reply can come: a worker
 * whose shared runtime closed first closes at once, instead of waiting out the bound of each step that
 * waits for the dispatcher ('closed', then 'flushed').
 */
import { describe, expect, it } from 'vitest'

import type { JobWorker } from '../../../actors/jobs/worker.js'
import { Runtime } from '../../../runtime/runtime.js'
import { uniq, useWorkerBench } from '../../fixtures/jobs/execution-support.js'

const bench = useWorkerBench()

describe('dispatcher link', () => {
  it('a worker whose runtime closed first closes at once, with a warning that results were not acked', async () => {
    const runtime = await Runtime.start()
    const warnings: string[] = []
    let worker: JobWorker | undefined
    try {
      worker = await bench.startWorker({}, (w) => w.register(uniq('noop'), () => undefined), { runtime })
      worker.events.on('warning', ({ message }) => warnings.push(message))
    } finally {
      await runtime.close()
    }
    const started = performance.now()
    await worker.close({ timeoutMs: 1_000 })
    // Each step that waits for the dispatcher is bounded by 5 s: waiting for either would pass this.
    expect(performance.now() - started).toBeLessThan(4_000)
    expect(warnings).toContain('the jobs runtime is closed; results not acked')
  })
})
