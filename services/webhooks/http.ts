import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import { parseWebhookUrl, RefusedDestinationError, resolveDestination, type AddressPolicy, type ResolvedAddress } from './address-policy.js'

/** How much of a receiver's answer is read (then dropped): enough to end the exchange politely, never a memory risk. */
export const RESPONSE_BODY_LIMIT = 16 * 1024
const USER_AGENT = 'taskforge-webhooks/1'

export interface AttemptRequest {
  url: string
  body: string
  headers: Record<string, string>
  timeoutMs: number
  policy: AddressPolicy
  /** Aborts the attempt (the job lost its lease, the worker is stopping). */
  signal?: AbortSignal
}

export interface AttemptResult {
  /** A 2xx answer. */
  ok: boolean
  statusCode: number | null
  /** Why it failed, for the deliveries log; null on success. */
  error: string | null
}

/**
 * A lookup that answers with addresses already resolved and checked: the
 * socket connects to one of them, and no second DNS query (whose answer could
 * differ) is ever made.
 */
function pinnedLookup (addresses: ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const wanted = options.family === 4 || options.family === 6 ? addresses.filter(({ family }) => family === options.family) : addresses
    if (wanted.length === 0) {
      callback(Object.assign(new Error('no checked address of the wanted family'), { code: 'ENOTFOUND' }), '', 0)
      return
    }
    if (options.all === true) {
      callback(null, wanted)
      return
    }
    const [first] = wanted
    callback(null, first?.address ?? '', first?.family ?? 4)
  }
}

function describeError (error: unknown): string {
  if (error instanceof RefusedDestinationError) return `refused: ${error.message}`
  const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined
  const message = error instanceof Error ? error.message : String(error)
  if (code === 'ECONNREFUSED') return 'connection refused'
  return code === undefined || message.includes(code) ? message : `${message} (${code})`
}

/**
 * One delivery attempt: POST the body to the URL after checking where it
 * goes (resolveDestination), with a fresh connection to a checked address.
 * A 2xx within timeoutMs is success; any other status (redirects are not
 * followed), a time-out, a refused destination or a connection error is a
 * failure. At most RESPONSE_BODY_LIMIT bytes of the answer are read, and none kept.
 */
export async function attemptDelivery (request: AttemptRequest): Promise<AttemptResult> {
  const deadline = AbortSignal.timeout(request.timeoutMs)
  const signal = request.signal === undefined ? deadline : AbortSignal.any([deadline, request.signal])
  try {
    const url = parseWebhookUrl(request.url, request.policy.allowPrivate)
    const addresses = await resolveDestination(url, request.policy)
    signal.throwIfAborted()
    const statusCode = await post(url, addresses, request, signal)
    const ok = statusCode >= 200 && statusCode < 300
    const redirect = statusCode >= 300 && statusCode < 400 ? ' (redirects are not followed)' : ''
    return { ok, statusCode, error: ok ? null : `the receiver answered ${statusCode}${redirect}` }
  } catch (error) {
    if (deadline.aborted) return { ok: false, statusCode: null, error: `no answer within ${request.timeoutMs} ms` }
    return { ok: false, statusCode: null, error: describeError(error) }
  }
}

/** Sends the request and resolves with the status once the answer is read up to the bound (or has ended). */
function post (url: URL, addresses: ResolvedAddress[], request: AttemptRequest, signal: AbortSignal): Promise<number> {
  const transport = url.protocol === 'https:' ? https : http
  return new Promise<number>((resolve, reject) => {
    const outgoing = transport.request(url, {
      method: 'POST',
      headers: {
        ...request.headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(request.body)),
        'user-agent': USER_AGENT
      },
      lookup: pinnedLookup(addresses),
      // A connection of its own each time: a pooled socket would skip this attempt's address check.
      agent: false,
      signal
    }, (response: IncomingMessage) => {
      const statusCode = response.statusCode ?? 0
      let read = 0
      const finish = () => {
        response.destroy()
        resolve(statusCode)
      }
      response.on('data', (chunk: Buffer) => {
        read += chunk.length
        if (read >= RESPONSE_BODY_LIMIT) finish()
      })
      response.once('end', finish)
      // The status is known: a receiver that breaks off its body has still answered.
      response.once('error', finish)
      response.once('aborted', finish)
    })
    outgoing.once('error', reject)
    outgoing.end(request.body)
  })
}
