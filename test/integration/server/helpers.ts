/** `pulse server` as an operator starts it: the built binary, on the run's servers, on a free port. */
import { type RunningPulse, spawnPulse } from '../../helpers/cli.js'

export interface RunningServer extends RunningPulse {
  readonly url: string
}

/** Starts `pulse server` with `env` (over a clean environment) and resolves once it listens. */
export async function startServer(env: Record<string, string>, args: readonly string[] = []): Promise<RunningServer> {
  const pulse = spawnPulse(['server', ...args], { PULSE_HTTP_ADDR: '127.0.0.1:0', ...env })
  const line = await pulse.waitForLine(/listening on /)
  return Object.assign(pulse, { url: /listening on (\S+)/.exec(line)?.[1] ?? '' })
}

export function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` }
}
