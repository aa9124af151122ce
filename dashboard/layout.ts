/** The page shell: head with the assets and the CSRF token, the navigation, the signed-in user. */
import { html, type SafeHtml } from './html.js'

export interface NavItem {
  readonly path: string
  readonly label: string
}

export const NAV: readonly NavItem[] = [
  { path: '/', label: 'Overview' },
  { path: '/jobs', label: 'Jobs' },
  { path: '/schedules', label: 'Schedules' },
  { path: '/dispatch', label: 'Dispatch' },
  { path: '/audit', label: 'Audit log' },
  { path: '/streams', label: 'Streams' },
  { path: '/pools', label: 'Pools' },
  { path: '/maps', label: 'Maps' },
  { path: '/runtime', label: 'Runtime' },
]

export interface LayoutInput {
  readonly prefix: string
  readonly title: string
  /** The nav item this page belongs to (its path), for `aria-current`. */
  readonly section: string
  readonly csrf: string
  readonly user: string | undefined
  readonly readOnly: boolean
  readonly body: SafeHtml
}

function nav(prefix: string, section: string): SafeHtml {
  return html`<nav aria-label="Sections">
    ${NAV.map(
      (item) =>
        html`<a
          href="${prefix}${item.path === '/' ? '/' : item.path}"
          ${section === item.path ? html`aria-current="page"` : ''}
          >${item.label}</a
        >`,
    )}
  </nav>`
}

function who(input: LayoutInput): SafeHtml {
  if (input.user === undefined) return html`<span class="who">no sign-in (auth is off)</span>`
  return html`<span class="who"
    >${input.user}${input.readOnly ? ' (read-only)' : ''}
    <form class="inline" method="post" action="${input.prefix}/logout">
      <input type="hidden" name="_csrf" value="${input.csrf}" /><button type="submit">Sign out</button>
    </form></span
  >`
}

export function layout(input: LayoutInput): SafeHtml {
  const { prefix } = input
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <link rel="icon" href="data:," />
        <meta name="csrf-token" content="${input.csrf}" />
        <meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}' />
        <title>${input.title} · Pulse</title>
        <link rel="stylesheet" href="${prefix}/assets/uPlot.min.css" />
        <link rel="stylesheet" href="${prefix}/assets/dashboard.css" />
        <script src="${prefix}/assets/htmx.min.js" defer></script>
        <script src="${prefix}/assets/uPlot.min.js" defer></script>
        <script src="${prefix}/assets/dashboard.js" defer></script>
      </head>
      <body>
        <header>
          <span class="brand">Pulse</span>
          ${nav(prefix, input.section)} ${who(input)}
        </header>
        <main id="main">${input.body}</main>
      </body>
    </html>`
}

/** The sign-in page (no navigation). */
export function loginPage(prefix: string, csrf: string, error: string | undefined, next: string): SafeHtml {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <link rel="icon" href="data:," />
        <title>Sign in · Pulse</title>
        <link rel="stylesheet" href="${prefix}/assets/dashboard.css" />
      </head>
      <body>
        <main>
          <form class="login" method="post" action="${prefix}/login">
            <h1>Sign in to Pulse</h1>
            ${error === undefined ? '' : html`<p class="error" role="alert">${error}</p>`}
            <input type="hidden" name="_csrf" value="${csrf}" />
            <input type="hidden" name="next" value="${next}" />
            <label>User <input name="user" autocomplete="username" required /></label>
            <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
            <button type="submit">Sign in</button>
          </form>
        </main>
      </body>
    </html>`
}
