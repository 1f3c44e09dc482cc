import type { FastifyBaseLogger } from 'fastify'
import type { Sql } from '../../db/client.js'
import type { Clock } from '../clock.js'
import type { JobHandlers } from '../../plugins/jobs/definitions.js'
import type { Mailer } from '../mailer.js'
import type { AppJobCatalog } from './catalog.js'
import { purgeExpired } from './purge-expired.js'
import { welcomeEmail } from './welcome-email.js'

export interface JobHandlerDependencies {
  mailer: Mailer
  sql: Sql
  clock: Clock
  log: FastifyBaseLogger
}

/** What each job of the app does. */
export function createJobHandlers ({ mailer, sql, clock, log }: JobHandlerDependencies): JobHandlers<AppJobCatalog> {
  return {
    'welcome-email': async (payload) => {
      await mailer.send(welcomeEmail(payload))
    },
    'purge-expired': async (_payload, { signal }) => {
      await purgeExpired({ sql, now: new Date(clock()), signal, log })
    }
  }
}
