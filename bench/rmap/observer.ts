/**
 * The other PROCESS of the write→visible benchmark: `tsx observer.ts <redisUrl> <map>`. It joins the
 * map, prints `joined`, and on each notification reads the key `lat` (`<seq>:<epoch ms of the write>`)
 * and records now − that time for each new seq. When `lat-done` appears it prints `latencies <json>`
 * and exits.
 */
import { ReplicatedMap } from '../../actors/rmap/index.js'

const [url = '', name = ''] = process.argv.slice(2)
const now = (): number => performance.timeOrigin + performance.now()
const map = await ReplicatedMap.join(url, name)
const seen = new Map<number, number>()
console.log('joined')
for await (const _ of map.subscribe()) {
  const lat = map.get('lat')
  if (lat !== undefined) {
    const [seq, at] = lat.split(':').map(Number)
    if (seq !== undefined && at !== undefined && !seen.has(seq)) seen.set(seq, now() - at)
  }
  if (map.has('lat-done')) break
}
console.log(`latencies ${JSON.stringify([...seen.values()])}`)
await map.close()
