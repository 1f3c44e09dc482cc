// The part of autocannon 9's programmatic API the benchmark uses (the package ships no types).
declare module 'autocannon' {
  namespace autocannon {
    interface RequestParams {
      method?: string
      path?: string
      headers?: Record<string, string>
      body?: string
    }

    interface Request extends RequestParams {
      /** Called before each request of this entry; returns the request to send. */
      setupRequest?: (request: RequestParams, context: Record<string, unknown>) => RequestParams
    }

    interface Options {
      url: string
      connections?: number
      /** Seconds. */
      duration?: number
      /** Requests to send in all, instead of a duration. */
      amount?: number
      pipelining?: number
      /** Seconds before a request counts as timed out. */
      timeout?: number
      method?: string
      headers?: Record<string, string>
      body?: string
      requests?: Request[]
    }

    interface Histogram {
      average: number
      mean: number
      stddev: number
      min: number
      max: number
      total: number
      p50: number
      p90: number
      p97_5: number
      p99: number
    }

    interface Result {
      /** Seconds actually run. */
      duration: number
      errors: number
      timeouts: number
      non2xx: number
      '2xx': number
      statusCodeStats: Record<string, { count: number }>
      /** Milliseconds. */
      latency: Histogram
      /** Requests a second, sampled each second; `total` is every completed request. */
      requests: Histogram & { sent: number }
      throughput: Histogram
    }

    interface Instance extends PromiseLike<Result> {
      stop: () => void
    }
  }

  function autocannon (options: autocannon.Options): autocannon.Instance
  export default autocannon
}
