import { encodeArgs } from '../../actors/jobs/args.js'
const shapes = { empty: {}, user: { to: 'a@b.com', subject: 'Hello there', userId: 12345, tags: ['a', 'b', 'c'], locale: 'en-GB', template: 'welcome', retry: true, meta: { source: 'signup', campaign: 'x1' } } }
for (const [name, v] of Object.entries(shapes)) {
  for (let r = 0; r < 3; r++) {
    const n = 200_000
    let t = performance.now()
    for (let i = 0; i < n; i++) encodeArgs(v)
    const check = ((performance.now() - t) * 1e6) / n
    t = performance.now()
    for (let i = 0; i < n; i++) JSON.stringify(v)
    const str = ((performance.now() - t) * 1e6) / n
    console.log(name, 'check ns', check.toFixed(0), 'stringify ns', str.toFixed(0))
  }
}
