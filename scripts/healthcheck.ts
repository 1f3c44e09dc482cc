/**
 * The image's HEALTHCHECK (`node dist/scripts/healthcheck.js`): GET /health/live
 * where the server listens, from HOST and PORT as the app reads them, with
 * Node's own fetch (the slim image has no curl). Exit 0: live; 1: not.
 */
import { isIPv6 } from 'node:net'
import { EnvironmentSchema } from '../config.js'

const TIMEOUT_MS = 4000

/** A wildcard HOST (0.0.0.0, ::) listens on loopback too, so ask there; any other HOST is the only address the server answers on. */
function liveUrl (host: string, port: string): string {
  const wildcard = host === '0.0.0.0' || (isIPv6(host) && new URL(`http://[${host}]`).hostname === '[::]')
  const address = wildcard ? '127.0.0.1' : host
  return `http://${isIPv6(address) ? `[${address}]` : address}:${port}/health/live`
}

const host = process.env.HOST ?? String(EnvironmentSchema.properties.HOST.default)
const port = process.env.PORT ?? String(EnvironmentSchema.properties.PORT.default)
const url = liveUrl(host, port)
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  if (!response.ok) process.stderr.write(`GET ${url}: ${response.status}\n`)
  process.exitCode = response.ok ? 0 : 1
} catch (error) {
  // fetch's own message is "fetch failed"; the reason (ECONNREFUSED, a time-out) is its cause.
  const reason = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error)
  process.stderr.write(`GET ${url}: ${reason}\n`)
  process.exitCode = 1
}
