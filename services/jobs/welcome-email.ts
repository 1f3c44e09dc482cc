import type { MailMessage } from '../mailer.js'

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`)

/** The welcome email for a new account. */
export function welcomeEmail (user: { userId: string; email: string; name: string | null }): MailMessage {
  const greeting = user.name === null ? 'Welcome to taskforge!' : `Welcome to taskforge, ${user.name}!`
  return {
    to: user.email,
    subject: 'Welcome to taskforge',
    messageId: `<welcome-${user.userId}@taskforge.dev>`,
    text: `${greeting}\n\nYour account ${user.email} is ready. Log in and create your first task.\n\n— taskforge\n`,
    html: `<p>${escapeHtml(greeting)}</p><p>Your account <strong>${escapeHtml(user.email)}</strong> is ready. Log in and create your first task.</p><p>— taskforge</p>`
  }
}
