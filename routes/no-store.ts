import type { onSendHookHandler } from 'fastify'

/**
 * Route option `onSend: noStore` for every answer that carries a token or
 * another secret: no cache, shared or the browser's own, may keep it
 * (RFC 6749 §5.1, RFC 9111 §5.2.2.5). Errors of such a route get it too,
 * which costs nothing. No `Pragma: no-cache`: RFC 9111 deprecates it and
 * HTTP/1.0 caches, the only ones that read it, are gone.
 */
export const noStore: onSendHookHandler = (_request, reply, payload, done) => {
  reply.header('Cache-Control', 'no-store')
  done(null, payload)
}
