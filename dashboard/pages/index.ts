/** Every page of the dashboard, in the order of the navigation. */
import type { PageRoute } from '../page.js'
import { OVERVIEW_ROUTES } from './overview.js'

export const PAGES: readonly PageRoute[] = [...OVERVIEW_ROUTES]
