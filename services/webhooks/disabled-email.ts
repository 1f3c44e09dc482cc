import type { MailMessage } from '../mailer.js'

export interface WebhookDisabledNotice {
  webhookId: string
  email: string
  url: string
  /** When its deliveries started failing (RFC 3339). */
  failingSince: string
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`)

/** The email that tells an owner their webhook was disabled after five days of failed deliveries. */
export function webhookDisabledEmail (notice: WebhookDisabledNotice): MailMessage {
  const since = notice.failingSince.slice(0, 16).replace('T', ' ')
  const what = `Every delivery to your webhook ${notice.url} has failed since ${since} UTC, so we have disabled it.`
  const next = 'See why in GET /webhooks/' + notice.webhookId + '/deliveries; once the receiver works again, enable it with PATCH /webhooks/' +
    notice.webhookId + ' {"enabled": true}.'
  return {
    to: notice.email,
    subject: 'taskforge: your webhook was disabled',
    // One per streak of failures: a repeat of the job (at least once) is the same message.
    messageId: `<webhook-disabled-${notice.webhookId}-${Date.parse(notice.failingSince)}@taskforge.dev>`,
    text: `${what}\n\n${next}\n\n— taskforge\n`,
    html: `<p>${escapeHtml(what)}</p><p>${escapeHtml(next)}</p><p>— taskforge</p>`
  }
}
