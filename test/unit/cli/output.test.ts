/** What commands print: table cells (control characters escaped), tables and records as text. */
import { describe, expect, it } from 'vitest'

import { cell, recordText, tableText } from '../../../cli/common/output.js'

describe('cells', () => {
  it('show dates as ISO text, objects as JSON, nothing for null and undefined', () => {
    expect(cell(new Date(Date.UTC(2030, 0, 31, 9)))).toBe('2030-01-31T09:00:00.000Z')
    expect(cell({ a: [1, 'b'] })).toBe('{"a":[1,"b"]}')
    expect(cell(null)).toBe('')
    expect(cell(undefined)).toBe('')
    expect(cell(12n)).toBe('12')
    expect(cell(false)).toBe('false')
  })

  it('escape control characters so a value cannot drive the terminal; tabs and newlines stay', () => {
    expect(cell('\u001b[2Jgone')).toBe('\\u001b[2Jgone')
    expect(cell('bell\u0007 del\u007f c1\u009b')).toBe('bell\\u0007 del\\u007f c1\\u009b')
    expect(cell('a\tb\nc')).toBe('a\tb\nc')
    expect(cell({ name: '\u001b]0;title\u0007' })).toBe('{"name":"\\u001b]0;title\\u0007"}')
    expect(cell('é 😀')).toBe('é 😀')
  })
})

describe('tables', () => {
  it('lay out a header and rows, every value through cell()', () => {
    const text = tableText(['id', 'name', 'at'], [[1, 'a\u001bb', null]])
    const lines = text.split('\n')
    expect(lines).toHaveLength(5)
    expect(lines[1]).toMatch(/│ id │ name +│ at │/)
    expect(lines[3]).toMatch(/│ 1 +│ a\\u001bb │ +│/)
    expect(text).not.toContain('\u001b')
  })

  it('lay out a record as field and value', () => {
    const text = recordText({ schema: 'pulse', timeoutMs: 10_000 })
    expect(text).toMatch(/│ schema +│ pulse +│/)
    expect(text).toMatch(/│ timeoutMs +│ 10000 +│/)
  })
})
