import type { FastifyServerOptions } from 'fastify'
import pino, { type DestinationStream, type LoggerOptions } from 'pino'
import type { Config } from '../config.js'

// Wherever a secret could sit in a logged object, pino replaces it.
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'password', '*.password',
  'passwordHash', '*.passwordHash',
  'accessToken', '*.accessToken',
  'refreshToken', '*.refreshToken',
  'token', '*.token'
]

// Driver error fields that may quote row contents or query parameters.
const UNSAFE_ERROR_FIELDS = ['detail', 'where', 'parameters', 'args', 'query', 'types']

function serializeError (error: Error): Record<string, unknown> {
  const serialized: Record<string, unknown> = { ...pino.stdSerializers.err(error) }
  for (const field of UNSAFE_ERROR_FIELDS) serialized[field] = undefined
  if (error.cause instanceof Error) serialized.cause = serializeError(error.cause)
  return serialized
}

export function loggerOptions (config: Pick<Config, 'env' | 'logLevel'>): LoggerOptions {
  return {
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
    ...(config.env === 'development' ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {})
  }
}

/** Fastify's logger option: pretty in development, JSON elsewhere, or a given stream (tests read it). */
export function fastifyLogger (config: Pick<Config, 'env' | 'logLevel'>, stream?: DestinationStream): FastifyServerOptions['loggerInstance'] {
  if (stream !== undefined) return pino({ ...loggerOptions({ ...config, env: 'test' }) }, stream)
  return pino(loggerOptions(config))
}
