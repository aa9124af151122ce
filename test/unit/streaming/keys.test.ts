/**
 * The keys of streams and sinks in both layouts (transports/redis/streaming/keys.ts), and the hash
 * slot of a key (transports/redis/cluster-slots.ts); test/integration/cluster/streaming.test.ts
 * checks `keySlot` against a cluster's CLUSTER KEYSLOT.
 */
import { describe, expect, it } from 'vitest'

import { keySlot } from '../../../transports/redis/cluster-slots.js'
import { keepAliveMapName, sinksMapName, staleLeaseKey, streamKey } from '../../../transports/redis/streaming/keys.js'
import { contentKey, updatesChannel } from '../../../transports/redis/rmap/keys.js'

describe('stream and sink keys', () => {
  it("compat: goa.design/pulse v1.6.5's keys, byte for byte (also the default)", () => {
    expect(streamKey('orders')).toBe('pulse:stream:orders')
    expect(streamKey('orders', 'compat')).toBe('pulse:stream:orders')
    expect(contentKey(sinksMapName('orders', 'compat'), 'compat')).toBe('map:stream:orders:sinks:content')
    expect(updatesChannel(sinksMapName('orders'))).toBe('map:stream:orders:sinks:updates')
    expect(contentKey(keepAliveMapName('billing'))).toBe('map:sink:billing:keepalive:content')
    expect(staleLeaseKey('billing')).toBe('sink:billing:stalelease')
  })

  it("cluster: the stream's keys share the stream's slot, the sink's the sink's", () => {
    const stream = streamKey('orders', 'cluster')
    const sinks = sinksMapName('orders', 'cluster')
    expect(stream).toBe('pulse:stream:{orders}')
    expect(contentKey(sinks, 'cluster')).toBe('map:stream:{orders}:sinks:content')
    expect(updatesChannel(sinks, 'cluster')).toBe('map:stream:{orders}:sinks:updates')
    expect(new Set([stream, contentKey(sinks, 'cluster'), updatesChannel(sinks, 'cluster')].map(keySlot)).size).toBe(1)
    const keepAlive = keepAliveMapName('billing', 'cluster')
    expect(contentKey(keepAlive, 'cluster')).toBe('map:sink:{billing}:keepalive:content')
    expect(staleLeaseKey('billing', 'cluster')).toBe('sink:{billing}:stalelease')
    expect(keySlot(contentKey(keepAlive, 'cluster'))).toBe(keySlot(staleLeaseKey('billing', 'cluster')))
    // A name that holds a hash tag is used as it is: streams can share a slot on purpose.
    expect(streamKey('{orders}:eu', 'cluster')).toBe('pulse:stream:{orders}:eu')
    expect(keySlot(streamKey('{orders}:eu', 'cluster'))).toBe(keySlot(streamKey('{orders}:us', 'cluster')))
  })

  it('keySlot: CRC16 mod 16384 of the hash tag, or of the key when it has none', () => {
    expect(keySlot('foo')).toBe(12182)
    expect(keySlot('bar')).toBe(5061)
    expect(keySlot('{foo}:anything')).toBe(12182)
    expect(keySlot('a{foo}b{bar}')).toBe(12182) // the first tag only
    expect(keySlot('x{}foo')).not.toBe(keySlot('foo')) // an empty tag is no tag
  })
})
