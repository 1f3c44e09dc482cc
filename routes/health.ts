import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { pingDatabase } from '../db/client.js'
import { ProblemSchema, sendProblem } from '../plugins/problem.js'

const READINESS_TIMEOUT_MS = 1000

const Live = Type.Object({ status: Type.Literal('ok') })
const CheckResult = Type.Union([Type.Literal('ok'), Type.Literal('fail')])
const Ready = Type.Object({
  status: Type.Literal('ok'),
  checks: Type.Object({ database: CheckResult })
})

/** Liveness says the process runs; readiness says it can serve (the database answers). */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health/live', {
    schema: {
      tags: ['health'],
      summary: 'The process is running',
      response: { 200: Live }
    },
    logLevel: 'warn'
  }, () => ({ status: 'ok' as const }))

  app.get('/health/ready', {
    schema: {
      tags: ['health'],
      summary: 'The service can take traffic: its database answers',
      response: { 200: Ready, 503: ProblemSchema }
    },
    logLevel: 'warn'
  }, async (request, reply) => {
    if (app.draining) {
      return sendProblem(request, reply, {
        status: 503,
        slug: 'not-ready',
        title: 'Service not ready',
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
        status: 503,
        slug: 'not-ready',
        title: 'Service not ready',
        detail: 'The database does not answer',
        extensions: { checks: { database: 'fail' } }
      })
    }
  })
}

export default healthRoutes
