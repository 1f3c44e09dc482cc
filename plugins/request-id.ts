import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import fp from 'fastify-plugin'
import { RequestLogController } from './logger.js'

// Letters, digits and a few separators: enough for UUIDs, ULIDs and trace ids, too little for log injection.
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** The caller's X-Request-Id when it is sane, so a request can be followed across services; a new UUID otherwise. */
export function requestIdFor (request: IncomingMessage): string {
  const given = request.headers['x-request-id']
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID()
}

/** Fastify server options: request ids come from requestIdFor and are logged as `requestId`. */
export function requestIdServerOptions () {
  return {
    requestIdHeader: false,
    genReqId: requestIdFor,
    logController: new RequestLogController({ requestIdLogLabel: 'requestId' })
  } as const
}

/** Every response, errors included, carries the id its log lines carry. */
export default fp(async (app) => {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('X-Request-Id', request.id)
    done()
  })
}, { name: 'request-id' })
