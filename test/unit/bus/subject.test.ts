import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import {
  checkPattern,
  checkSubject,
  compilePattern,
  matchSubject,
  namespaceOf,
  patternError,
  SubjectIndex,
  subjectError,
  subjectTokens,
} from '../../../actors/bus/subject.js'
import { InvalidArgumentError } from '../../../runtime/errors.js'

/** The matching cases of docs/bus-http-api.md ("Subjects and patterns"), and more. */
const kMatchTable: readonly [subject: string, pattern: string, matches: boolean][] = [
  ['a.b.c', 'a.*.c', true],
  ['a.b', 'a.*', true],
  ['a', 'a.*', false],
  ['a.b.c.d', 'a.>', true],
  ['a.b', 'a.>', true],
  ['a', 'a.>', true],
  ['a.b.c', 'a.b.c.>', true],
  ['a.b.c', 'a.*.>', true],
  ['a.b.c', 'a.b', false],
  ['a.b', 'a.b.c', false],
  ['a.b.c', '*', false],
  ['a.b.c', '*.*.*', true],
  ['a.b.c', '>', true],
  ['a..b', 'a.*.b', true],
  ['ab', 'a', false],
  ['a.bc', 'a.b', false],
  ['', '', true],
  // `*` never spans a dot; matching is case-sensitive.
  ['a.b.c', 'a.*', false],
  ['a.B', 'a.b', false],
  // The walk's trailing-dot quirk: no empty last token.
  ['a.', 'a', true],
  ['a.', 'a.*', false],
  ['a.', 'a.>', true],
]

/** Patterns and the reference's `ValidateSubject` message for each (undefined: valid). */
const kPatternTable: readonly [pattern: string, error: string | undefined][] = [
  ['a.b.c', undefined],
  ['a.*.c', undefined],
  ['a.>', undefined],
  ['a.*', undefined],
  ['a.b_c.9', undefined],
  ['ä.ü.数字', undefined],
  ['a', undefined],
  ['', 'subject is empty'],
  ['.a', 'subject should not starts with dot'],
  ['*.x', 'subject should not starts with *'],
  ['>', 'subject should not starts with >'],
  ['a.', 'subject should not ends with dot'],
  ['a.b c', 'subject should not have spaces'],
  ['a..b', 'subject should not have series of dots one after another'],
  ['a.>.b', 'subject should not have anything after >'],
  ['a.b>', 'subject should have a dot before >'],
  ['a.b*', 'subject should have a dot before *'],
  ['a.*b', 'subject should have a dot after *'],
  ['a.**', 'subject should have a dot after *'],
  ['a.b-c', 'subject should have only consists of alphanumerics, dots, *, > and _'],
  ['a.b/c', 'subject should have only consists of alphanumerics, dots, *, > and _'],
  // The first broken rule, scanning left to right, wins.
  ['a b.', 'subject should not have spaces'],
  ['a-b..', 'subject should have only consists of alphanumerics, dots, *, > and _'],
]

describe('subjects and patterns', () => {
  it.each(kMatchTable)('matchSubject(%j, %j) is %s', (subject, pattern, expected) => {
    expect(matchSubject(subject, pattern)).toBe(expected)
  })

  it.each(kPatternTable)('pattern %j: %s', (pattern, error) => {
    expect(patternError(pattern)).toBe(error)
  })

  it('checkPattern also wants a namespace, and names the argument in its InvalidArgumentError', () => {
    expect(checkPattern('a.*')).toBe('a.*')
    expect(() => checkPattern('a')).toThrow('pattern "a" is invalid: invalid subject: missing namespace')
    let caught: unknown
    try {
      checkPattern('a.b-c', 'options.subject')
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(InvalidArgumentError)
    expect(caught).toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
      message:
        'options.subject "a.b-c" is invalid: subject should have only consists of alphanumerics, dots, *, > and _',
      data: {
        option: 'options.subject',
        subject: 'a.b-c',
        reason: 'subject should have only consists of alphanumerics, dots, *, > and _',
      },
    })
    expect(() => checkPattern(42)).toThrow(InvalidArgumentError)
  })

  it('publish subjects only need to be non-empty, wildcard-free and namespaced, as the reference', () => {
    for (const ok of ['a.b-c', 'a..b', 'a.', 'a.b c', 'a.b/c']) expect(subjectError(ok)).toBeUndefined()
    expect(subjectError('')).toBe('subject is required')
    expect(subjectError('a.*')).toBe('subject should not have * or >')
    expect(subjectError('a.b.>')).toBe('subject should not have * or >')
    expect(subjectError('nodots')).toBe('invalid subject: missing namespace')
    expect(checkSubject('a.b-c')).toBe('a.b-c')
    expect(() => checkSubject('nodots')).toThrow('subject "nodots" is invalid: invalid subject: missing namespace')
  })

  it('namespaceOf and subjectTokens', () => {
    expect(namespaceOf('user.created')).toBe('user')
    expect(namespaceOf('nodots')).toBeUndefined()
    expect(subjectTokens('')).toEqual([])
    expect(subjectTokens('a.')).toEqual(['a'])
    expect(subjectTokens('a..b')).toEqual(['a', '', 'b'])
  })

  it('compilePattern checks the pattern and agrees with the table', () => {
    expect(() => compilePattern('a.b-c')).toThrow(InvalidArgumentError)
    for (const [subject, pattern, expected] of kMatchTable) {
      if (checkable(pattern)) expect(compilePattern(pattern)(subject), `${subject} ~ ${pattern}`).toBe(expected)
    }
  })

  it('SubjectIndex finds every subscription whose pattern matches, counts duplicates and prunes on delete', () => {
    const index = new SubjectIndex<string>()
    index.add('a.>', 'tail')
    index.add('a.*.c', 'star')
    index.add('a.b.c', 'exact')
    index.add('a.b.c', 'exact')
    index.add('b.*', 'other')
    expect(index.size).toBe(5)
    expect(index.match('a.b.c')).toEqual(new Set(['tail', 'star', 'exact']))
    expect(index.match('a')).toEqual(new Set(['tail']))
    expect(index.match('b.x')).toEqual(new Set(['other']))
    expect(index.match('c.x')).toEqual(new Set())
    expect(index.delete('a.b.c', 'exact')).toBe(true)
    expect(index.match('a.b.c').has('exact')).toBe(true)
    expect(index.delete('a.b.c', 'exact')).toBe(true)
    expect(index.delete('a.b.c', 'exact')).toBe(false)
    expect(index.delete('a.>', 'tail')).toBe(true)
    expect(index.match('a.b.c')).toEqual(new Set(['star']))
    expect(index.size).toBe(2)
    expect(() => index.add('a.b-c', 'bad')).toThrow(InvalidArgumentError)
  })
})

function checkable(pattern: string): boolean {
  return patternError(pattern) === undefined && pattern.includes('.')
}

// ---- Property tests against a reference written from the rules' prose (docs/bus-http-api.md) -------

/** Tokens as the reference's walk sees them: none for '', and no empty token after a trailing dot. */
function refTokens(s: string): string[] {
  if (s === '') return []
  const parts = s.split('.')
  if (parts.at(-1) === '') parts.pop()
  return parts
}

/** Matching for valid patterns: `>` matches the rest (zero or more tokens), `*` one token, others equal. */
function refMatch(subject: string, pattern: string): boolean {
  const s = refTokens(subject)
  const p = refTokens(pattern)
  for (let k = 0; ; k++) {
    if (k === p.length) return k === s.length
    if (p[k] === '>') return true
    if (k === s.length) return false
    if (p[k] !== '*' && p[k] !== s[k]) return false
  }
}

/** The pattern rules as a whole-string check (letters, digits, `_`; `*` a whole token; `>` the whole last one). */
function refValid(pattern: string): boolean {
  if (pattern === '') return false
  const tokens = pattern.split('.')
  return (
    tokens.every(
      (token, k) =>
        token === '*' || (token === '>' && k === tokens.length - 1 && k > 0) || /^[\p{L}\p{Nd}_]+$/u.test(token),
    ) && tokens[0] !== '*'
  )
}

const token = fc.constantFrom('a', 'b', 'c', 'ab', 'x_1', 'é')
const subjectArb = fc.oneof(
  fc.array(token, { minLength: 0, maxLength: 5 }).map((t) => t.join('.')),
  // Publishable oddities: empty tokens and a trailing dot.
  fc.array(fc.constantFrom('a', 'b', ''), { minLength: 1, maxLength: 5 }).map((t) => t.join('.')),
)
const patternArb = fc
  .tuple(token, fc.array(fc.oneof(token, fc.constant('*')), { maxLength: 4 }), fc.boolean())
  .map(([first, rest, tail]) => [first, ...rest, ...(tail ? ['>'] : [])].join('.'))
  .filter((pattern) => pattern.includes('.'))
const anyString = fc.string({ unit: fc.constantFrom('a', 'b', '.', '*', '>', ' ', '-', '_', 'é', '1'), maxLength: 8 })

describe('subject properties (fast-check, against a reference implementation)', () => {
  it('matchSubject agrees with the reference for valid patterns', () => {
    fc.assert(
      fc.property(subjectArb, patternArb, (subject, pattern) => {
        expect(patternError(pattern)).toBeUndefined()
        expect(matchSubject(subject, pattern)).toBe(refMatch(subject, pattern))
        expect(compilePattern(pattern)(subject)).toBe(refMatch(subject, pattern))
      }),
      { numRuns: 2_000 },
    )
  })

  it('a pattern is valid exactly when the reference rules say so', () => {
    fc.assert(
      fc.property(anyString, (pattern) => {
        expect(patternError(pattern) === undefined).toBe(refValid(pattern))
      }),
      { numRuns: 5_000 },
    )
  })

  it('every subject matches itself and its namespace tail, and `*` never spans a dot', () => {
    fc.assert(
      fc.property(fc.array(token, { minLength: 1, maxLength: 5 }), (tokens) => {
        const subject = tokens.join('.')
        expect(matchSubject(subject, subject)).toBe(true)
        expect(matchSubject(subject, `${tokens[0]}.>`)).toBe(true)
        expect(matchSubject(subject, tokens.map(() => '*').join('.'))).toBe(true)
        expect(matchSubject(`${subject}.z`, tokens.map(() => '*').join('.'))).toBe(false)
      }),
    )
  })

  it('SubjectIndex.match returns exactly the values whose pattern matches', () => {
    fc.assert(
      fc.property(
        fc.array(patternArb, { minLength: 1, maxLength: 12 }),
        fc.array(subjectArb, { maxLength: 10 }),
        (patterns, subjects) => {
          const index = new SubjectIndex<number>()
          patterns.forEach((pattern, n) => index.add(pattern, n))
          for (const subject of subjects) {
            const expected = new Set(patterns.flatMap((pattern, n) => (refMatch(subject, pattern) ? [n] : [])))
            expect(index.match(subject)).toEqual(expected)
          }
          patterns.forEach((pattern, n) => expect(index.delete(pattern, n)).toBe(true))
          expect(index.size).toBe(0)
        },
      ),
      { numRuns: 500 },
    )
  })
})
