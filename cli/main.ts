#!/usr/bin/env node
import { runCli } from './program.js'

const code = await runCli(process.argv.slice(2))
process.exitCode = code
// A command has ended: a connection still retrying (a server that never answered) must not keep the
// process alive. The timer does not hold the loop itself, so a clean exit is not delayed.
setTimeout(() => process.exit(code), 250).unref()
