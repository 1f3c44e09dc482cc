import type { FastifyBaseLogger } from 'fastify'
import nodemailer from 'nodemailer'

export interface MailMessage {
  to: string
  subject: string
  text: string
  html: string
  /** A stable id lets receiving systems drop a repeat of the same mail (jobs run at least once). */
  messageId?: string
}

export interface Mailer {
  /** "smtp" or "log" (no SMTP_URL: messages are written to the log, not sent). */
  readonly kind: 'smtp' | 'log'
  send: (message: MailMessage) => Promise<void>
  close: () => void
}

/** SMTP when a URL is configured (smtp:// or smtps://), else a transport that only logs: a simulation, and it says so. */
export function createMailer ({ smtpUrl, from, log }: { smtpUrl: string | undefined; from: string; log: FastifyBaseLogger }): Mailer {
  if (smtpUrl === undefined) {
    const transport = nodemailer.createTransport({ jsonTransport: true })
    return {
      kind: 'log',
      async send (message) {
        await transport.sendMail({ from, ...message })
        log.info({ mail: { to: message.to, subject: message.subject, text: message.text } }, 'mail simulated: SMTP_URL is not set, so this message was logged instead of sent')
      },
      close: () => { transport.close() }
    }
  }
  const url = new URL(smtpUrl)
  const secure = url.protocol === 'smtps:'
  const transport = nodemailer.createTransport({
    host: url.hostname,
    port: url.port === '' ? (secure ? 465 : 587) : Number(url.port),
    secure,
    ...(url.username === '' ? {} : { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }),
    // Fail fast: a stuck server should cost a retry, not block the worker for minutes.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000
  })
  return {
    kind: 'smtp',
    async send (message) {
      const info = await transport.sendMail({ from, ...message })
      log.info({ to: message.to, subject: message.subject, smtpMessageId: info.messageId }, 'mail sent')
    },
    close: () => { transport.close() }
  }
}
