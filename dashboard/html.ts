/**
 * HTML built by a tagged template that escapes every interpolated value: `html\`<td>${job.name}</td>\``
 * renders a name holding `<script>` as text. Only values that are already `SafeHtml` (another `html`
 * template, or `raw` of a constant) pass through as markup; arrays are joined.
 */
export class SafeHtml {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
  toString(): string {
    return this.text
  }
}

const kEscapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => kEscapes[c] as string)
}

function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.text
  if (Array.isArray(value)) return value.map(render).join('')
  if (value === undefined || value === null || value === false) return ''
  if (value instanceof Date) return escapeHtml(value.toISOString())
  if (typeof value === 'string') return escapeHtml(value)
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  return escapeHtml(JSON.stringify(value) ?? '')
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? ''
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '')
  return new SafeHtml(out)
}

/** Markup given as is: for constants of this package only, never for data. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup)
}

/** `value` as pretty-printed JSON, escaped, for a `<pre>`. */
export function json(value: unknown): SafeHtml {
  const text = Buffer.isBuffer(value) ? `<${value.length} bytes>` : JSON.stringify(value, null, 2)
  return new SafeHtml(escapeHtml(text ?? 'undefined'))
}
