/** The errors of a teardown that goes on after a failure (close, removing a worker): thrown at the end. */
import { coerceError } from '../../runtime/errors.js'

export class Failures {
  readonly #errors: Error[] = []

  /** Records a failure; usable as a `.catch` handler. */
  readonly add = (error: unknown): void => {
    this.#errors.push(coerceError(error))
  }

  addAll(errors: readonly Error[]): void {
    this.#errors.push(...errors)
  }

  /** Throws the one error as is, several as an `AggregateError` with `message`; nothing when none. */
  throwIfAny(message: string): void {
    const [only] = this.#errors
    if (this.#errors.length === 1 && only !== undefined) throw only
    if (this.#errors.length > 1) throw new AggregateError(this.#errors, message)
  }
}
