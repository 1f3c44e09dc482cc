/**
 * What a route declares it needs, in its config: `config: { scope: 'webhooks' }`.
 * The personal access tokens' auth (issue 14) enforces it; until then this
 * augmentation lets the webhooks routes declare it. Delete when that lands.
 */
export type RouteScope = 'tasks:read' | 'tasks:write' | 'webhooks' | 'any' | 'session'

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: RouteScope
  }
}
