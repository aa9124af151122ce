/**
 * A browser without JavaScript, over fetch: it keeps the dashboard's session cookie and the page's
 * CSRF token (`<meta name="csrf-token">`), follows no redirect (a test checks each `Location`), and
 * posts forms urlencoded with `_csrf`. `signIn` goes through the sign-in form as a person does.
 */

export interface Answer {
  readonly status: number
  readonly text: string
  /** The `Location` of a redirect; '' otherwise. */
  readonly location: string
}

const kEntities: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" }

/** Text of an HTML attribute value, unescaped. */
export function unescapeHtml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (entity) => kEntities[entity] ?? entity)
}

export class Visitor {
  readonly base: string
  cookie = ''
  csrf = ''

  constructor(base: string) {
    this.base = base
  }

  /** A visitor signed in as `user` through `/ui/login`. */
  static async signIn(base: string, user: string, password: string): Promise<Visitor> {
    const visitor = new Visitor(base)
    const form = await visitor.get('/ui/login')
    const token = /name="_csrf" value="([^"]*)"/.exec(form.text)?.[1]
    if (token === undefined) throw new Error(`no sign-in form:\n${form.text}`)
    const res = await visitor.post('/ui/login', { user, password, next: '/ui/jobs' }, { token: unescapeHtml(token) })
    if (res.status !== 303 || res.location !== '/ui/jobs') throw new Error(`sign-in as ${user} failed: ${res.status}`)
    await visitor.get('/ui/jobs')
    return visitor
  }

  /** The `href` of the link whose text is `text` on `page`. */
  static link(page: string, text: string): string {
    const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    const match = new RegExp(`<a href="([^"]*)"[^>]*>\\s*${escaped}\\s*</a>`).exec(page)
    if (match === null) throw new Error(`no link "${text}" on the page`)
    return unescapeHtml(match[1] as string)
  }

  /** The fields of the form posting to `action` on `page` (its inputs with a value), but `_csrf`. */
  static form(page: string, action: string): Record<string, string> {
    const start = page.indexOf(`action="${action}"`)
    if (start < 0) throw new Error(`no form posting to ${action}`)
    const body = page.slice(start, page.indexOf('</form>', start))
    const fields: Record<string, string> = {}
    for (const m of body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
      if (m[1] !== '_csrf') fields[m[1] as string] = unescapeHtml(m[2] as string)
    }
    return fields
  }

  #remember(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(';')[0] ?? ''
      if (pair.startsWith('pulse_session=')) this.cookie = pair
    }
  }

  async #answer(res: Response): Promise<Answer> {
    this.#remember(res)
    const text = await res.text()
    const token = /<meta name="csrf-token" content="([^"]*)"/.exec(text)?.[1]
    if (token !== undefined && token !== '') this.csrf = unescapeHtml(token)
    return { status: res.status, text, location: res.headers.get('location') ?? '' }
  }

  async get(path: string): Promise<Answer> {
    const res = await fetch(`${this.base}${path}`, {
      headers: { Accept: 'text/html', Cookie: this.cookie },
      redirect: 'manual',
    })
    return this.#answer(res)
  }

  /** Posts `fields` as a form, with the page's CSRF token (`token` instead; none with `csrf: false`). */
  async post(
    path: string,
    fields: Record<string, string>,
    { csrf = true, token }: { csrf?: boolean; token?: string } = {},
  ): Promise<Answer> {
    const body = new URLSearchParams(fields)
    if (csrf) body.set('_csrf', token ?? this.csrf)
    const res = await fetch(`${this.base}${path}`, {
      method: 'POST',
      headers: { Accept: 'text/html', Cookie: this.cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
      redirect: 'manual',
    })
    return this.#answer(res)
  }
}
