import type { IncomingMessage, ServerResponse } from 'node:http'
import { Server as NetServer, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'
import { problems, sendProblem } from './problem.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** True from the moment shutdown starts: readiness answers 503 so that load balancers stop sending traffic. */
    readonly draining: boolean
    /** Called by the signal handler: readiness fails, and every answer from now on says Connection: close. */
    startDraining: () => void
    /**
     * The end of a shutdown, after the load balancer had its time: requests
     * that arrive from now on get a 503 problem with Retry-After; the server
     * stops accepting once clients have stopped connecting; each connection
     * ends after its request in flight, an idle one once its keep-alive
     * time-out has passed. Resolves when none is left, or at the deadline (a
     * performance.now() time), where the rest are cut; with how many were.
     */
    closeConnections: (deadline: number) => Promise<number>
  }
}

/**
 * What a request that arrives once the server is closing is told: come back
 * in this many seconds, when this instance is gone and its successor (or
 * another one) answers. Long enough for the rest of the shutdown to happen
 * while the clients wait: they stop connecting, so the server can stop
 * accepting with nobody in the kernel's accept queue, and their idle
 * kept-alive connections reach their time-out before they come back.
 */
export const SHUTTING_DOWN_RETRY_AFTER_S = 5
/** Node closes an idle kept-alive connection this long after the time-out it advertised, so that the client closes it first. */
const KEEP_ALIVE_BUFFER_MS = 1000
/**
 * In development an idle connection is closed once quiet this long: a restart
 * (tsx watch allows 5 s) should not wait for a browser's kept-alive
 * connections, and a browser retries a request that meets a closed one.
 */
export const DEVELOPMENT_IDLE_GRACE_MS = 500
/**
 * The server stops accepting once no connection has come for this long. The
 * kernel completes handshakes on its own and resets every connection still
 * in its accept queue when the listening socket closes, request sent or not;
 * clients told to retry later have stopped connecting by then.
 */
export const LISTENER_QUIET_MS = 100
const SWEEP_INTERVAL_MS = 100

interface Connection {
  /** Requests received on it and not yet answered (or aborted). */
  inFlight: number
  /** socket.bytesRead when last looked at: a request still arriving shows here before it is a request. */
  bytesRead: number
  /** performance.now() since when nothing was in flight and nothing arrived. */
  quietSince: number
}

/**
 * Whether this process should get traffic: it drains on shutdown (readiness
 * 503, Connection: close, a 503 problem once closing, connections closed only
 * when idle), and sheds load with a 503 problem while its event loop lags.
 */
export default fp(async (app) => {
  let draining = false
  let refusing = false
  app.decorate('draining', { getter: () => draining })
  app.decorate('startDraining', () => {
    if (!draining) app.log.info('draining: readiness now answers 503, answers say Connection: close')
    draining = true
  })
  app.addHook('preClose', (done) => {
    draining = true
    refusing = true
    done()
  })
  // From the moment draining starts, clients (and load balancers) are told not to reuse their connection: it then
  // ends after this answer, closed from our side at a moment when no request can be in flight on it.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('Connection', 'close')
    done(null, payload)
  })
  // Requests already running finish; one arriving once closing is told to go elsewhere, or to come back later.
  // A callback hook, not an async one: it runs on every request and almost always just passes.
  app.addHook('onRequest', (request, reply, done) => {
    if (!refusing) {
      done()
      return
    }
    reply.header('Connection', 'close').header('Retry-After', String(SHUTTING_DOWN_RETRY_AFTER_S))
    sendProblem(request, reply, { ...problems.shuttingDown, detail: 'This instance is shutting down; retry, another one will answer' })
  })

  // How long a connection with no request in flight must have been quiet before shutdown closes it. Closing a
  // kept-alive connection from our side races a client that is just sending on it, or that has not yet seen the
  // close when it reuses it (a busy client can be seconds late): it gets a reset. A connection that had an answer
  // during the drain was told to close (Connection: close) and is closed after it; any other one is left until the
  // keep-alive time-out it was told (Keep-Alive: timeout=N), by which time a client that honours it has closed it.
  const idleGraceMs = app.config.env === 'development' ? DEVELOPMENT_IDLE_GRACE_MS : app.config.keepAliveTimeoutMs + KEEP_ALIVE_BUFFER_MS
  const connections = new Map<Socket, Connection>()
  let lastAccepted = performance.now()
  let requestsInFlight = 0
  let allClosed: (() => void) | undefined
  app.server.on('connection', (socket: Socket) => {
    lastAccepted = performance.now()
    connections.set(socket, { inFlight: 0, bytesRead: 0, quietSince: lastAccepted })
    socket.once('close', () => {
      connections.delete(socket)
      if (connections.size === 0) allClosed?.()
    })
  })
  app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const connection = connections.get(request.socket)
    if (connection === undefined) return
    connection.inFlight++
    requestsInFlight++
    response.once('close', () => {
      connection.inFlight--
      requestsInFlight--
      connection.quietSince = performance.now()
    })
  })

  /**
   * Closes the listening socket once nothing is in flight and no client has connected for LISTENER_QUIET_MS, or at
   * the deadline. Under load Node accepts about one connection per turn of the event loop, so a quiet moment on a
   * busy server says nothing of the kernel's accept queue; on an idle one the next poll empties it.
   */
  const stopAccepting = async (deadline: number) => {
    while (performance.now() < deadline) {
      const quietFor = performance.now() - lastAccepted
      if (requestsInFlight > 0 || quietFor < LISTENER_QUIET_MS) {
        await sleep(Math.min(requestsInFlight > 0 ? SWEEP_INTERVAL_MS : LISTENER_QUIET_MS - quietFor, deadline - performance.now()))
        continue
      }
      // One more poll phase: it accepts a connection the kernel still holds, if there is one.
      const before = lastAccepted
      await new Promise((resolve) => setImmediate(resolve))
      if (lastAccepted === before && requestsInFlight === 0) break
    }
    // net.Server's close, not http.Server's: that one also destroys every connection idle at this instant, including
    // one a client is writing its next request to (Node 19+), which is the reset this sequence exists to avoid.
    NetServer.prototype.close.call(app.server)
    app.log.info({ connections: connections.size }, 'stopped accepting connections')
  }

  /** Closes each connection with nothing in flight that has been quiet for idleGraceMs. */
  const closeIdle = async () => {
    const now = performance.now()
    const idle: Socket[] = []
    for (const [socket, connection] of connections) {
      if (connection.inFlight > 0) continue
      if (socket.bytesRead !== connection.bytesRead) {
        connection.bytesRead = socket.bytesRead
        connection.quietSince = now
      } else if (now - connection.quietSince >= idleGraceMs) {
        idle.push(socket)
      }
    }
    if (idle.length === 0) return
    // One more poll phase first: it reads a request that has already arrived on one of them, if there is one.
    await new Promise((resolve) => setImmediate(resolve))
    for (const socket of idle) {
      const connection = connections.get(socket)
      if (connection?.inFlight !== 0 || socket.bytesRead !== connection.bytesRead) continue
      socket.destroy()
    }
  }

  app.decorate('closeConnections', async (deadline: number) => {
    draining = true
    refusing = true
    const sweeper = setInterval(() => { void closeIdle() }, SWEEP_INTERVAL_MS)
    let timer: NodeJS.Timeout | undefined
    try {
      void closeIdle()
      if (app.server.listening) await stopAccepting(deadline)
      const closed = new Promise<boolean>((resolve) => {
        allClosed = () => { resolve(true) }
        if (connections.size === 0) resolve(true)
        timer = setTimeout(resolve, Math.max(0, deadline - performance.now()), false)
      })
      if (await closed) return 0
    } finally {
      clearInterval(sweeper)
      clearTimeout(timer)
    }
    const cut = connections.size
    app.log.warn({ connections: cut, requestsInFlight }, 'shutdown time-out: cutting the connections still open')
    for (const socket of connections.keys()) socket.destroy()
    return cut
  })

  const { maxEventLoopDelayMs } = app.config
  if (maxEventLoopDelayMs > 0) {
    await app.register(underPressure, {
      maxEventLoopDelay: maxEventLoopDelayMs,
      retryAfter: 5,
      pressureHandler: (request, reply, type, value) => {
        request.log.warn({ pressure: type, value }, 'shedding load: the process is overloaded')
        reply.header('Retry-After', '5')
        sendProblem(request, reply, { ...problems.overloaded, detail: 'The server is overloaded; retry in a few seconds' })
      }
    })
  }
}, { name: 'availability', dependencies: ['config'] })
