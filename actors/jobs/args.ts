/**
 * Job args on the way in. A `Uint8Array` is stored as bytes (`args_bytes`) and comes back as a
 * `Buffer`; anything else must be JSON that reads back as what was given: a value `JSON.stringify`
 * would drop, change or choke on is refused with `PULSE_ERR_INVALID_ARG`, naming where it is
 * (`args.user.tags[2]`):
 *
 * - `undefined` (at the top or in an array), functions, symbols, bigints, `NaN` and ±Infinity;
 * - cycles;
 * - `Map`, `Set`, typed arrays and `ArrayBuffer` below the top (they would become `{}` or index maps);
 * - strings (or keys) with a NUL character or a lone surrogate, which PostgreSQL's `jsonb` rejects.
 *
 * An object property whose value is `undefined` is left out, as JSON does (the handler reads the same
 * `undefined`); an object with `toJSON` (a `Date`) is stored as what `toJSON` returns.
 */
import { InvalidArgumentError } from '../../runtime/errors.js'

export interface EncodedArgs {
  args?: unknown
  argsBytes?: Uint8Array
}

/** Checks `value` and returns how to store it; `name` is the argument's name in errors. */
export function encodeArgs(value: unknown, name = 'args'): EncodedArgs {
  if (value instanceof Uint8Array) return { argsBytes: value }
  checkJson(value, name, new Set())
  return { args: value }
}

const kMaxDepth = 1_000

function refuse(path: string, what: string): never {
  throw new InvalidArgumentError(`${path} must be JSON-serialisable: ${what}`, { data: { option: path } })
}

function checkJson(value: unknown, path: string, ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
      checkText(value, path)
      return
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(value)) refuse(path, `${value} is not a JSON number`)
      return
    case 'undefined':
      return refuse(path, 'it is undefined')
    case 'function':
      return refuse(path, 'it is a function')
    case 'symbol':
      return refuse(path, 'it is a symbol')
    case 'bigint':
      return refuse(path, 'it is a bigint (pass it as a string)')
    case 'object':
      if (value === null) return
      checkObject(value, path, ancestors)
  }
}

function checkObject(value: object, path: string, ancestors: Set<object>): void {
  if (ancestors.has(value)) refuse(path, 'it refers to itself (a cycle)')
  if (ancestors.size >= kMaxDepth) refuse(path, `it nests deeper than ${kMaxDepth} levels`)
  if (value instanceof Map || value instanceof Set) refuse(path, `a ${value.constructor.name} would be stored as {} (convert it to an array or object)`)
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) refuse(path, 'bytes are only accepted as the whole args (a Uint8Array)')
  const toJSON = (value as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function') {
    checkJson(toJSON.call(value) as unknown, path, ancestors)
    return
  }
  ancestors.add(value)
  if (Array.isArray(value)) {
    value.forEach((item: unknown, i) => checkJson(item, `${path}[${i}]`, ancestors))
  } else {
    for (const [key, item] of Object.entries(value)) {
      const itemPath = `${path}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`
      checkText(key, `${itemPath} (the key)`)
      if (item !== undefined) checkJson(item, itemPath, ancestors)
    }
  }
  ancestors.delete(value)
}

function checkText(text: string, path: string): void {
  if (text.includes('\0')) refuse(path, 'it contains a NUL character, which PostgreSQL cannot store')
  if (!text.isWellFormed()) refuse(path, 'it contains a lone surrogate (not valid Unicode)')
}
