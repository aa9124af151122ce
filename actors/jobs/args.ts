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
  checkJson(value, { name, parent: undefined, key: undefined }, [])
  return { args: value }
}

const kMaxDepth = 1_000

/**
 * Where a value is, as a chain of keys from the argument's name: spelled out (`args.user.tags[2]`)
 * only when something is refused, so a valid argument costs no string per key.
 */
interface Where {
  readonly name: string
  readonly parent: Where | undefined
  readonly key: string | number | undefined
}

function pathOf(where: Where): string {
  const { parent, key } = where
  if (parent === undefined) return where.name
  const base = pathOf(parent)
  if (typeof key === 'number') return `${base}[${key}]`
  return /^[A-Za-z_$][\w$]*$/.test(key ?? '') ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`
}

function at(parent: Where, key: string | number): Where {
  return { name: parent.name, parent, key }
}

function refuse(where: Where, what: string, suffix = ''): never {
  const path = pathOf(where) + suffix
  throw new InvalidArgumentError(`${path} must be JSON-serialisable: ${what}`, { data: { option: path } })
}

function checkJson(value: unknown, where: Where, ancestors: object[]): void {
  switch (typeof value) {
    case 'string':
      checkText(value, where)
      return
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(value)) refuse(where, `${value} is not a JSON number`)
      return
    case 'undefined':
      return refuse(where, 'it is undefined')
    case 'function':
      return refuse(where, 'it is a function')
    case 'symbol':
      return refuse(where, 'it is a symbol')
    case 'bigint':
      return refuse(where, 'it is a bigint (pass it as a string)')
    case 'object':
      if (value === null) return
      checkObject(value, where, ancestors)
  }
}

function checkObject(value: object, where: Where, ancestors: object[]): void {
  if (ancestors.includes(value)) refuse(where, 'it refers to itself (a cycle)')
  if (ancestors.length >= kMaxDepth) refuse(where, `it nests deeper than ${kMaxDepth} levels`)
  if (value instanceof Map || value instanceof Set)
    refuse(where, `a ${value.constructor.name} would be stored as {} (convert it to an array or object)`)
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer)
    refuse(where, 'bytes are only accepted as the whole args (a Uint8Array)')
  const toJSON = (value as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function') {
    checkJson(toJSON.call(value) as unknown, where, ancestors)
    return
  }
  ancestors.push(value)
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      if (!isStorableLeaf(item)) checkJson(item, at(where, i), ancestors)
    }
  } else {
    const record = value as Record<string, unknown>
    for (const key of Object.keys(record)) {
      const item = record[key]
      if (!isStorableText(key)) checkText(key, at(where, key), ' (the key)')
      if (item !== undefined && !isStorableLeaf(item)) checkJson(item, at(where, key), ancestors)
    }
  }
  ancestors.pop()
}

/** A value stored as it is, with nothing below it: checked without a `Where`. */
function isStorableLeaf(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
      return isStorableText(value)
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value)
    default:
      return value === null
  }
}

function isStorableText(text: string): boolean {
  return !text.includes('\0') && text.isWellFormed()
}

function checkText(text: string, where: Where, suffix = ''): void {
  if (text.includes('\0')) refuse(where, 'it contains a NUL character, which PostgreSQL cannot store', suffix)
  if (!text.isWellFormed()) refuse(where, 'it contains a lone surrogate (not valid Unicode)', suffix)
}
