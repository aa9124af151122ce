/** The contract between the dashboard (`app.ts`) and its pages (`pages/`). */
import type { Bus } from '../actors/bus/index.js'
import type { JobQueue } from '../actors/jobs/index.js'
import type { Runtime } from '../runtime/index.js'
import type { HttpContext } from '../transports/http/index.js'
import type { PulseRedis } from '../transports/redis/index.js'
import type { SafeHtml } from './html.js'
import type { Session } from './session.js'

/** What the pages show: each may be absent (the page then says what to configure). */
export interface PageDeps {
  readonly queue: JobQueue | undefined
  readonly redis: PulseRedis | undefined
  readonly bus: Bus | undefined
  readonly runtime: Runtime | undefined
}

/** What a page handler gets. */
export interface PageRequest {
  readonly ctx: HttpContext
  readonly session: Session
  readonly csrf: string
  readonly prefix: string
  readonly deps: PageDeps
  /** Who the audit log records for this request's actions. */
  readonly actor: string
  /** The form fields of an action's body (`application/x-www-form-urlencoded`). */
  form(): Promise<URLSearchParams>
}

/** A page: a full document (`title`, `body`), a fragment (`fragment`), or a redirect (`location`). */
export type PageResult =
  | { readonly title: string; readonly body: SafeHtml; readonly section?: string; readonly status?: number }
  | { readonly fragment: SafeHtml }
  | { readonly location: string }

export interface PageRoute {
  readonly method: 'GET' | 'POST'
  /** Under the prefix: `/jobs`, `/jobs/:id`. */
  readonly path: string
  /** The nav section it belongs to. */
  readonly section: string
  readonly handler: (req: PageRequest) => Promise<PageResult | void>
  /** A live stream (SSE) instead of a page: the handler runs it. */
  readonly live?: boolean
}
