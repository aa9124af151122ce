/**
 * `pulse passwd [PASSWORD]`: prints the bcrypt hash of a password, for a `PULSE_AUTH_USERS` entry
 * (`user:<hash>`). The password is the argument, or standard input when the argument is `-`, or absent
 * and standard input is not a terminal (one trailing newline dropped): a command line is visible to
 * every user of the machine, standard input is not.
 */
import bcrypt from 'bcryptjs'
import { Command } from 'commander'

import { InvalidArgumentError } from '../../runtime/errors.js'
import { print } from '../common/output.js'
import { parseInteger } from '../common/parse.js'

interface PasswdFlags {
  cost: string
  json?: boolean
}

export function passwdCommand(): Command {
  return new Command('passwd')
    .description('print the bcrypt hash of a password, for PULSE_AUTH_USERS (user:<hash>)')
    .argument('[password]', 'the password; - or nothing (with piped input): read it from standard input')
    .option('--cost <rounds>', 'bcrypt cost factor (4 to 15)', '10')
    .option('--json', 'print {"hash"} as JSON')
    .action((password: string | undefined, flags: PasswdFlags, command: Command) => runPasswd(password, flags, command))
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

async function passwordOf(argument: string | undefined, command: Command): Promise<string> {
  if (argument !== undefined && argument !== '-') return argument
  if (argument === undefined && process.stdin.isTTY === true) {
    command.error('error: give the password as an argument, or pipe it: printf %s "$PASSWORD" | pulse passwd', {
      exitCode: 2,
    })
  }
  return (await readStdin()).replace(/\r?\n$/, '')
}

async function runPasswd(argument: string | undefined, flags: PasswdFlags, command: Command): Promise<void> {
  const cost = parseInteger(flags.cost, '--cost', { min: 4, max: 15 })
  const password = await passwordOf(argument, command)
  if (password === '') {
    throw new InvalidArgumentError('the password is empty', { data: { option: 'password' } })
  }
  // bcrypt reads at most 72 bytes: a longer password would match any other with the same first 72.
  if (Buffer.byteLength(password) > 72) {
    throw new InvalidArgumentError('the password is longer than 72 bytes, which bcrypt cuts; use a shorter one', {
      data: { option: 'password' },
    })
  }
  const hash = await bcrypt.hash(password, cost)
  print(flags.json, { hash }, () => process.stdout.write(`${hash}\n`))
}
