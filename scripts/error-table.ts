/** Rewrites the README's error-code table from the registry: `npm run docs:errors`. */
import { readFileSync, writeFileSync } from 'node:fs'

import { ERROR_CODES } from '../runtime/errors.js'

export function renderErrorTable(): string {
  const rows = Object.entries(ERROR_CODES).map(([code, meaning]) => `| \`${code}\` | ${meaning} |`)
  return ['| code | meaning |', '|---|---|', ...rows].join('\n')
}

export function withErrorTable(readme: string): string {
  return readme.replace(
    /(<!-- error-codes:start -->\n)[\s\S]*?(\n<!-- error-codes:end -->)/,
    (_match, start: string, end: string) => `${start}${renderErrorTable()}${end}`,
  )
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = new URL('../README.md', import.meta.url)
  writeFileSync(path, withErrorTable(readFileSync(path, 'utf8')))
}
