import type { FastifyBaseLogger } from 'fastify'
import type { Sql } from '../../db/client.js'
import type { Clock } from '../clock.js'
import { welcomeEmail, type Mailer } from '../mail.js'
import type { JobHandlers, jobCatalog } from './catalog.js'
import { purgeExpired } from './purge-expired.js'

export interface JobHandlerDependencies {
  mailer: Mailer
  sql: Sql
  clock: Clock
  log: FastifyBaseLogger
}

/** What each job of the app does. */
export function createJobHandlers ({ mailer, sql, clock, log }: JobHandlerDependencies): JobHandlers<typeof jobCatalog> {
  return {
    'welcome-email': async (payload) => {
      await mailer.send(welcomeEmail(payload))
    },
    'purge-expired': async (_payload, { signal }) => {
      await purgeExpired({ sql, now: new Date(clock()), signal, log })
    }
  }
}
