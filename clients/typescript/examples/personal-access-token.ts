// Make a personal access token for a script with your login, and use it as the script would.
import { ApiProblem, TaskforgeClient } from '@taskforge/client'

const baseUrl = process.env.TASKFORGE_URL ?? 'http://localhost:3000'
const you = new TaskforgeClient({ baseUrl })
await you.signIn({
  email: process.env.TASKFORGE_EMAIL ?? 'ada@example.io',
  password: process.env.TASKFORGE_PASSWORD ?? 'correct horse battery'
})

// Only a login makes tokens. The secret is in this answer and never again: keep it where the script reads it.
const { id, token } = await you.tokens.create({
  name: 'nightly export',
  scopes: ['tasks:read'],
  expiresAt: new Date(Date.now() + 90 * 24 * 3600 * 1000).toISOString()
})

// The script: no login and no refresh; the token reaches what its scopes cover, and no further.
const script = new TaskforgeClient({ baseUrl, personalAccessToken: token })
const page = await script.tasks.list({ limit: 100 })
console.log(`the script read ${page.items.length} tasks`)
try {
  await script.tasks.create({ title: 'Not with tasks:read' })
} catch (error) {
  if (!(error instanceof ApiProblem && error.status === 403)) throw error
  console.log(`refused: ${error.detail ?? error.title}`)
}

// Your tokens, never their secrets; revoke one you no longer need and it stops working at once.
for (const listed of await you.tokens.list()) console.log(`${listed.name}: ${listed.scopes.join(', ')}`)
await you.tokens.revoke(id)
