import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { pingDatabase } from '../db/client.js'
import { problems, sendProblem } from '../plugins/problem.js'
import { problemResponse } from './shared-schemas.js'

const READINESS_TIMEOUT_MS = 1000

const Live = Type.Object({ status: Type.Literal('ok') }, { description: 'The process runs', examples: [{ status: 'ok' }] })
const CheckResult = Type.Union([Type.Literal('ok'), Type.Literal('fail')])
const Ready = Type.Object({
  status: Type.Literal('ok'),
  checks: Type.Object({ database: CheckResult })
}, { description: 'Ready: the database answers', examples: [{ status: 'ok', checks: { database: 'ok' } }] })

/** Liveness says the process runs; readiness says it can serve (the database answers). */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health/live', {
    schema: {
      operationId: 'checkLiveness',
      summary: 'The process is running',
      description: 'Answers 200 as long as the process runs and its event loop turns: for a liveness probe, which restarts the process when it fails.',
      security: [],
      response: { 200: Live }
    },
    logLevel: 'warn'
  }, () => ({ status: 'ok' as const }))

  app.get('/health/ready', {
    schema: {
      operationId: 'checkReadiness',
      summary: 'The service can take traffic: its database answers',
      description: 'For a load balancer: 200 when the database answers within a second; 503 when it does not, ' +
        'and from the moment this instance starts shutting down, so that traffic moves elsewhere first.',
      security: [],
      response: {
        200: Ready,
        503: problemResponse('Not ready: the problem\'s `checks` say which check failed (`database: "fail"`, or `shutdown: "draining"`)', problems.notReady)
      }
    },
    logLevel: 'warn'
  }, async (request, reply) => {
    if (app.draining) {
      return sendProblem(request, reply, {
        ...problems.notReady,
        detail: 'This instance is shutting down',
        extensions: { checks: { database: 'ok', shutdown: 'draining' } }
      })
    }
    try {
      await pingDatabase(app.sql, READINESS_TIMEOUT_MS)
      return { status: 'ok' as const, checks: { database: 'ok' as const } }
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check failed: database')
      return sendProblem(request, reply, {
        ...problems.notReady,
        detail: 'The database does not answer',
        extensions: { checks: { database: 'fail' } }
      })
    }
  })
}

export default healthRoutes
