// The layering rule of the house: runtime <- transports <- actors <- {index.ts, cli}.
// An arrow means "may be imported by"; nothing imports upward and nothing forms a cycle.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'runtime-is-the-kernel',
      comment: 'runtime/ knows nothing of Redis, Postgres, HTTP or the features.',
      severity: 'error',
      from: { path: '^runtime/' },
      to: { path: '^(transports|actors|cli|dashboard)/|^index\\.ts$' },
    },
    {
      name: 'runtime-has-no-io-clients',
      severity: 'error',
      from: { path: '^runtime/' },
      to: { path: 'node_modules/(ioredis|pg|pg-[a-z-]+)/' },
    },
    {
      name: 'transports-know-no-features',
      severity: 'error',
      from: { path: '^transports/' },
      to: { path: '^(actors|cli|dashboard)/|^index\\.ts$' },
    },
    {
      name: 'features-are-siblings-not-dependents',
      comment: 'A feature folder imports no other feature folder, except the layered ones below.',
      severity: 'error',
      from: { path: '^actors/(rmap|streaming|jobs)/' },
      to: { path: '^actors/', pathNot: '^actors/$1/' },
    },
    {
      name: 'pool-builds-on-rmap-and-streaming',
      comment: 'The pool is made of replicated maps and streams (as in goa.design/pulse); nothing else.',
      severity: 'error',
      from: { path: '^actors/pool/' },
      to: { path: '^actors/', pathNot: '^actors/(pool|rmap|streaming)/' },
    },
    {
      name: 'bus-builds-on-streaming',
      comment: 'The bus persists in streams; nothing else.',
      severity: 'error',
      from: { path: '^actors/bus/' },
      to: { path: '^actors/', pathNot: '^actors/(bus|streaming)/' },
    },
    {
      name: 'the-composed-runtime-is-on-top',
      comment: 'actors/runtime/ binds every feature to the kernel; no feature imports it.',
      severity: 'error',
      from: { path: '^actors/', pathNot: '^actors/runtime/' },
      to: { path: '^actors/runtime/' },
    },
    {
      name: 'actors-do-not-import-surfaces',
      severity: 'error',
      from: { path: '^actors/' },
      to: { path: '^(cli|dashboard)/|^index\\.ts$' },
    },
    {
      name: 'dashboard-is-a-surface',
      comment: 'The dashboard is built on the public API; the CLI serves it, never the reverse.',
      severity: 'error',
      from: { path: '^dashboard/' },
      to: { path: '^cli/|^index\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
}
