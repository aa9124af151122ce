// Prints vitest's own counts from its JSON report as the one closing line CI reads.
import { readFileSync } from 'node:fs'

const file = process.argv[2] ?? '.vitest-results.json'
let report
try {
  report = JSON.parse(readFileSync(file, 'utf8'))
} catch {
  console.log('no test report: the run stopped before vitest finished (see the output above)')
  process.exit(1)
}
const skipped = report.numPendingTests + report.numTodoTests
const failedFiles = report.testResults.filter(
  (r) => r.status === 'failed' && r.assertionResults.every((a) => a.status !== 'failed'),
)
for (const f of failedFiles)
  console.log(`file failed outside its tests: ${f.name}: ${(f.message ?? '').split('\n')[0]}`)
console.log(
  `${report.numPassedTests} passed, ${report.numFailedTests} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`,
)
