/**
 * What a personal access token may be limited to, and what a route needs.
 * Every authenticated route names one RouteScope in its config
 * (`config: { scope }`); plugins/auth.ts reads it and nothing else decides.
 */

/** The scopes a personal access token can carry (API.md). */
export const TOKEN_SCOPES = ['tasks:read', 'tasks:write', 'webhooks'] as const
export type Scope = typeof TOKEN_SCOPES[number]

/**
 * What a route needs: a token scope; `any`, any valid credential (a session's
 * access token or a personal access token, whatever its scopes, e.g. GET
 * /auth/me); `session`, a session's access token only (a personal access
 * token gets 403, e.g. the routes that manage tokens).
 */
export type RouteScope = Scope | 'any' | 'session'
export const ROUTE_SCOPES: readonly RouteScope[] = [...TOKEN_SCOPES, 'any', 'session']

/** What each scope grants besides itself: writing tasks implies reading them. */
const IMPLIED: Record<Scope, readonly Scope[]> = {
  'tasks:read': [],
  'tasks:write': ['tasks:read'],
  webhooks: []
}

export function isRouteScope (value: unknown): value is RouteScope {
  return typeof value === 'string' && (ROUTE_SCOPES as readonly string[]).includes(value)
}

/** Every RouteScope a token with these scopes passes: its scopes, what they imply, and `any`. Worked out once per token. */
export function grantedRouteScopes (scopes: readonly Scope[]): ReadonlySet<RouteScope> {
  return new Set<RouteScope>(['any', ...scopes, ...scopes.flatMap((scope) => IMPLIED[scope])])
}

/** Scopes in one order (TOKEN_SCOPES'), so that a token's scopes read the same however they were sent. */
export function canonicalScopes (scopes: readonly Scope[]): Scope[] {
  return TOKEN_SCOPES.filter((scope) => scopes.includes(scope))
}
