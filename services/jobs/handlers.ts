import { welcomeEmail, type Mailer } from '../mail.js'
import type { JobHandlers, jobCatalog } from './catalog.js'

/** What each job of the app does. */
export function createJobHandlers ({ mailer }: { mailer: Mailer }): JobHandlers<typeof jobCatalog> {
  return {
    'welcome-email': async (payload) => {
      await mailer.send(welcomeEmail(payload))
    }
  }
}
