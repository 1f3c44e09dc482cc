import fp from 'fastify-plugin'
import { createMailer, type Mailer } from '../services/mailer.js'

declare module 'fastify' {
  interface FastifyInstance {
    mailer: Mailer
  }
}

/** Decorates app.mailer, for outgoing mail: SMTP_URL's server, or the log when none is configured. */
export default fp(async (app) => {
  // Its log lines are written during job runs: through the run's logger, they carry the job's ids.
  const mailer = createMailer({ smtpUrl: app.config.mail.smtpUrl, from: app.config.mail.from, log: app.observability.log })
  app.log.info(mailer.kind === 'smtp' ? 'mail: sending over SMTP (SMTP_URL)' : 'mail: SMTP_URL is not set, so mail is simulated: written to the log, not sent')
  app.decorate('mailer', mailer)
  app.addHook('onClose', (_instance, next) => {
    mailer.close()
    next()
  })
}, { name: 'mailer', dependencies: ['config', 'observability'] })
