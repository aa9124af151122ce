/**
 * Subjects and patterns, exactly as ella.to/bus v0.6.4 (docs/bus-http-api.md). Pure: no I/O.
 *
 * - A **subject** (what `put` publishes to) is dot-separated tokens whose first token is the namespace.
 *   Publishing only requires it non-empty, free of `*` and `>`, and with a namespace (`a.b-c`, `a..b`
 *   and `a.b c` are accepted, as the reference does).
 * - A **pattern** (what `get` subscribes to) must pass the reference's `ValidateSubject` rules — letters,
 *   digits, `_`, dots, `*` as a whole token, `>` as the whole last token — and have a namespace.
 * - Matching (`matchSubject`) walks both strings token by token: `*` matches one token (an empty one
 *   too, `a..b` matches `a.*.b`), `>` matches the rest — **zero** or more tokens, so `a.>` matches `a`
 *   (NATS wants one or more). It is case-sensitive and compares UTF-16 code units, which for
 *   splitting on `.` and comparing tokens is the same as the reference's bytes.
 *
 * The reference's walk has one quirk kept here: a single trailing dot of either string ends the walk
 * without an empty last token, so the subject `a.` matches the pattern `a` but not `a.*`.
 *
 * `compilePattern` checks a pattern once and returns a matcher; `SubjectIndex` holds many patterns in
 * a token trie and answers "which subscriptions want this subject" in one walk of the subject's
 * tokens (plus the `*` branches), however many patterns there are.
 */
import { InvalidArgumentError } from '../../runtime/errors.js'

/** The reserved namespace of request/reply inboxes. */
export const kInboxNamespace = '_bus_'

const kLetterOrDigit = /^[\p{L}\p{Nd}]$/u

/**
 * The reference's `ValidateSubject`: the first rule a pattern breaks, with the reference's message
 * (e.g. `'subject should not have spaces'`), or `undefined` when it is valid. It does not require a
 * namespace; `checkPattern` does.
 */
export function patternError(pattern: string): string | undefined {
  if (pattern === '') return 'subject is empty'
  const last = pattern.length - 1
  let i = 0
  for (const c of pattern) {
    if (i === 0) {
      if (c === '.') return 'subject should not starts with dot'
      if (c === '*') return 'subject should not starts with *'
      if (c === '>') return 'subject should not starts with >'
    }
    if (i === last && c === '.') return 'subject should not ends with dot'
    if (c === ' ') return 'subject should not have spaces'
    if (i > 0 && c === '.' && pattern[i - 1] === '.') return 'subject should not have series of dots one after another'
    if (c === '>' && i !== last) return 'subject should not have anything after >'
    if (c === '>' && i > 0 && pattern[i - 1] !== '.') return 'subject should have a dot before >'
    if (c === '*') {
      if (i > 0 && pattern[i - 1] !== '.') return 'subject should have a dot before *'
      if (i !== last && pattern[i + 1] !== '.') return 'subject should have a dot after *'
    }
    if (c !== '.' && c !== '*' && c !== '>' && c !== '_' && !kLetterOrDigit.test(c)) {
      return 'subject should have only consists of alphanumerics, dots, *, > and _'
    }
    i += c.length
  }
  return undefined
}

/** The first rule a subject to publish to breaks, with the reference's message, or `undefined`. */
export function subjectError(subject: string): string | undefined {
  if (subject === '') return 'subject is required'
  if (subject.includes('*') || subject.includes('>')) return 'subject should not have * or >'
  if (!subject.includes('.')) return 'invalid subject: missing namespace'
  return undefined
}

function invalid(name: string, value: unknown, reason: string): never {
  const shown = typeof value === 'string' ? JSON.stringify(value) : typeof value
  throw new InvalidArgumentError(`${name} ${shown} is invalid: ${reason}`, {
    data: { option: name, reason, ...(typeof value === 'string' ? { subject: value } : {}) },
  })
}

/**
 * A subject to publish to, checked: throws `InvalidArgumentError` (`PULSE_ERR_INVALID_ARG`) naming
 * `name`, with the reference's message in the text and as `data.reason`.
 */
export function checkSubject(subject: unknown, name = 'subject'): string {
  if (typeof subject !== 'string') invalid(name, subject, 'subject must be a string')
  const reason = subjectError(subject)
  if (reason !== undefined) invalid(name, subject, reason)
  return subject
}

/** A pattern to subscribe to, checked: the `ValidateSubject` rules, then a namespace. Throws like `checkSubject`. */
export function checkPattern(pattern: unknown, name = 'pattern'): string {
  if (typeof pattern !== 'string') invalid(name, pattern, 'subject must be a string')
  const reason = patternError(pattern) ?? (pattern.includes('.') ? undefined : 'invalid subject: missing namespace')
  if (reason !== undefined) invalid(name, pattern, reason)
  return pattern
}

/** The namespace of a subject or pattern: the text before its first dot (`undefined` without a dot). */
export function namespaceOf(subject: string): string | undefined {
  const dot = subject.indexOf('.')
  return dot < 0 ? undefined : subject.slice(0, dot)
}

/** Whether the pattern has a wildcard (`*` or `>`). */
export function hasWildcard(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('>')
}

/**
 * The reference's `MatchSubject(subject, pattern)`, step for step. It does not validate the pattern:
 * check it first (`checkPattern`), or use `compilePattern`.
 */
export function matchSubject(subject: string, pattern: string): boolean {
  const subLen = subject.length
  const patLen = pattern.length
  let i = 0
  let j = 0
  while (i < subLen && j < patLen) {
    const subStart = i
    const patStart = j
    while (i < subLen && subject.charCodeAt(i) !== 0x2e) i++
    while (j < patLen && pattern.charCodeAt(j) !== 0x2e) j++
    const patToken = pattern.slice(patStart, j)
    if (patToken === '>') return true
    if (patToken !== '*' && (i - subStart !== j - patStart || !subject.startsWith(patToken, subStart))) return false
    i++
    j++
  }
  if (j < patLen && pattern.slice(j) === '>') return true
  return i >= subLen && j >= patLen
}

/**
 * The tokens the reference's walk sees in a string: none for `''`, else the dot-separated parts
 * without the empty one after a trailing dot (`'a.'` → `['a']`, `'a..b'` → `['a', '', 'b']`).
 */
export function subjectTokens(subject: string): string[] {
  if (subject === '') return []
  const tokens = subject.split('.')
  if (subject.endsWith('.')) tokens.pop()
  return tokens
}

/** Checks `pattern` (`checkPattern`) once and returns a matcher for it. */
export function compilePattern(pattern: string): (subject: string) => boolean {
  checkPattern(pattern)
  if (!hasWildcard(pattern)) {
    // A literal pattern matches itself, and itself with one trailing dot (the walk's quirk).
    return (subject) =>
      subject === pattern ||
      (subject.length === pattern.length + 1 && subject.endsWith('.') && subject.startsWith(pattern))
  }
  return (subject) => matchSubject(subject, pattern)
}

interface TrieNode<T> {
  /** Children by literal token. */
  readonly literal: Map<string, TrieNode<T>>
  /** The `*` child. */
  star: TrieNode<T> | undefined
  /** Values whose pattern ends at this node. */
  readonly exact: Map<T, number>
  /** Values whose pattern has `>` right after this node's path. */
  readonly tail: Map<T, number>
}

function newNode<T>(): TrieNode<T> {
  return { literal: new Map(), star: undefined, exact: new Map(), tail: new Map() }
}

function isEmptyNode<T>(node: TrieNode<T>): boolean {
  return node.literal.size === 0 && node.star === undefined && node.exact.size === 0 && node.tail.size === 0
}

/**
 * Patterns → values (subscriptions), answering `match(subject)`: the set of values one of whose
 * patterns matches the subject, as `matchSubject` would. A value may be added under several patterns,
 * and under one pattern several times (it is counted; `delete` removes one). Patterns are checked with
 * `checkPattern`.
 */
export class SubjectIndex<T> {
  readonly #root: TrieNode<T> = newNode()
  #size = 0

  /** The number of (pattern, value) entries. */
  get size(): number {
    return this.#size
  }

  add(pattern: string, value: T): void {
    checkPattern(pattern)
    let node = this.#root
    for (const token of pattern.split('.')) {
      if (token === '>') {
        bump(node.tail, value, 1)
        this.#size++
        return
      }
      let next: TrieNode<T> | undefined = token === '*' ? node.star : node.literal.get(token)
      if (next === undefined) {
        next = newNode()
        if (token === '*') node.star = next
        else node.literal.set(token, next)
      }
      node = next
    }
    bump(node.exact, value, 1)
    this.#size++
  }

  /** Removes one entry of `value` under `pattern`; returns whether there was one. */
  delete(pattern: string, value: T): boolean {
    const tokens = pattern.split('.')
    const path: [TrieNode<T>, string][] = []
    let node = this.#root
    for (const token of tokens) {
      if (token === '>') break
      const next = token === '*' ? node.star : node.literal.get(token)
      if (next === undefined) return false
      path.push([node, token])
      node = next
    }
    const counts = tokens.at(-1) === '>' ? node.tail : node.exact
    if (!counts.has(value)) return false
    bump(counts, value, -1)
    this.#size--
    // Prune the nodes left empty, deepest first.
    for (let k = path.length - 1; k >= 0 && isEmptyNode(node); k--) {
      const [parent, token] = path[k] as [TrieNode<T>, string]
      if (token === '*') parent.star = undefined
      else parent.literal.delete(token)
      node = parent
    }
    return true
  }

  /** The values with a pattern matching `subject`. */
  match(subject: string): Set<T> {
    const found = new Set<T>()
    collect(this.#root, subjectTokens(subject), 0, found)
    return found
  }
}

function bump<T>(counts: Map<T, number>, value: T, delta: number): void {
  const n = (counts.get(value) ?? 0) + delta
  if (n > 0) counts.set(value, n)
  else counts.delete(value)
}

function collect<T>(node: TrieNode<T>, tokens: readonly string[], k: number, found: Set<T>): void {
  for (const value of node.tail.keys()) found.add(value)
  if (k === tokens.length) {
    for (const value of node.exact.keys()) found.add(value)
    return
  }
  const literal = node.literal.get(tokens[k] as string)
  if (literal !== undefined) collect(literal, tokens, k + 1, found)
  if (node.star !== undefined) collect(node.star, tokens, k + 1, found)
}
