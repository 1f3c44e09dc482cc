import { LogController, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import pino, { type DestinationStream, type LoggerOptions } from 'pino'
import type { Config } from '../config.js'

const CENSOR = '[redacted]'

// Where a serializer's output could hold a secret (a request's headers): pino
// redacts these paths after serializing. censorSecrets covers what is logged as given.
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]'
]

// Driver error fields that may quote row contents or query parameters.
const UNSAFE_ERROR_FIELDS = ['detail', 'where', 'parameters', 'args', 'query', 'types']

// Property names whose values are secrets, at any depth of a logged object (headers, bodies, error objects).
const SECRET_KEY = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api[-_]?key|((new|current|old)[-_]?)?password([-_]?hash)?|((access|refresh|id)[-_]?)?token([-_]?hash)?|((client|jwt)[-_]?)?secret)$/i
const CENSOR_DEPTH = 6
// A personal access token's secret is recognisable by its prefix: censored in any string, wherever a client
// may have put it (a URL's query, a field it does not belong in) and whatever the property is called.
const TOKEN_SECRET = /tfp_[A-Za-z0-9_-]+/g

/** text with every personal access token secret in it replaced. */
export function censorTokenSecrets (text: string): string {
  return text.includes('tfp_') ? text.replace(TOKEN_SECRET, `tfp_${CENSOR}`) : text
}

/**
 * value with every property whose name says "secret" replaced, however deep
 * it sits; value itself (no copy) when it holds none. Only plain objects and
 * arrays are walked: errors have their own serializer, requests and replies theirs.
 */
export function censorSecrets (value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return censorTokenSecrets(value)
  if (typeof value !== 'object' || value === null || depth > CENSOR_DEPTH) return value
  if (Array.isArray(value)) {
    const items = value.map((item: unknown) => censorSecrets(item, depth + 1))
    return items.some((item, index) => item !== value[index]) ? items : value
  }
  const prototype: unknown = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) return value
  let copy: Record<string, unknown> | undefined
  for (const [key, inner] of Object.entries(value)) {
    const censored = SECRET_KEY.test(key) ? CENSOR : censorSecrets(inner, depth + 1)
    if (censored !== inner) {
      copy ??= { ...value }
      copy[key] = censored
    }
  }
  return copy ?? value
}

/** Fastify's own request serializer, with any token secret in the URL censored. */
function serializeRequest (request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: censorTokenSecrets(request.url),
    version: request.headers['accept-version'],
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket.remotePort
  }
}

function serializeError (error: Error): Record<string, unknown> {
  const serialized: Record<string, unknown> = { ...pino.stdSerializers.err(error) }
  for (const field of UNSAFE_ERROR_FIELDS) serialized[field] = undefined
  if (error.cause instanceof Error) serialized.cause = serializeError(error.cause)
  return censorSecrets(serialized) as Record<string, unknown>
}

export function loggerOptions (config: Pick<Config, 'env' | 'logLevel'>): LoggerOptions {
  return {
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: CENSOR },
    serializers: { err: serializeError, req: serializeRequest },
    formatters: { log: (object) => censorSecrets(object) as Record<string, unknown> },
    ...(config.env === 'development' ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {})
  }
}

/** Fastify's logger option: pretty in development, JSON elsewhere, or a given stream (tests read it). */
export function fastifyLogger (config: Pick<Config, 'env' | 'logLevel'>, stream?: DestinationStream): FastifyServerOptions['loggerInstance'] {
  if (stream !== undefined) return pino({ ...loggerOptions({ ...config, env: 'test' }) }, stream)
  return pino(loggerOptions(config))
}

/**
 * Fastify's request log lines, written with the request's own logger: the
 * one that, by the time the response is done, carries the request id, the
 * trace ids and (once authenticated) the user id. "incoming request" is
 * written by the observability plugin's first onRequest hook, when the
 * request's span exists; the default would write it before.
 */
export class RequestLogController extends LogController {
  override incomingRequest (): void {
    // Logged in plugins/observability.ts.
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return
    // request.routeOptions builds an object of a dozen fields on every read: not for a line the level drops.
    if (!error && (request.log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.('info') === false) return
    const route = request.routeOptions.url
    if (error) request.log.error({ res: reply, err: error, route, responseTime: reply.elapsedTime }, 'request errored')
    else request.log.info({ res: reply, route, responseTime: reply.elapsedTime }, 'request completed')
  }
}
