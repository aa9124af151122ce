/**
 * The idle-check lease of a sink (`sink:<sink>:stalelease`), the same script as v1.6.5's
 * `acquireLeaseScript`: the key holds the lease's expiry in ms; whoever finds it missing or expired
 * takes it for `leaseMs`. One instance of a sink runs the idle-claim check per lease period, whatever
 * language it is written in.
 */
import { defineScript } from '../scripts.js'

export const kAcquireLease = defineScript({
  name: 'sinkAcquireLease-1',
  numberOfKeys: 1,
  lua: `--[[
  sinkAcquireLease-1: takes the idle-check lease of a sink when it is free or expired.
    KEYS[1] sink:<sink>:stalelease
    ARGV[1] now, ms   ARGV[2] lease, ms
  Reply: 1 when taken, 0 when someone else holds it.
]]
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local expiry = tonumber(redis.call('GET', KEYS[1]))
if expiry == nil or expiry < now then
  redis.call('SET', KEYS[1], tostring(now + lease), 'PX', lease)
  return 1
end
return 0
`,
})
