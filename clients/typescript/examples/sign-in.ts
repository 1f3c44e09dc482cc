// Sign in with email and password, keep the login across restarts, and call the API.
import { readFile, writeFile, rm } from 'node:fs/promises'
import { TaskforgeClient, type SessionTokens } from '@taskforge/client'

const baseUrl = process.env.TASKFORGE_URL ?? 'http://localhost:3000'
const sessionFile = process.env.TASKFORGE_SESSION_FILE ?? '.taskforge-session.json'

// Each refresh spends the refresh token before it, so keep the newest one, every time.
async function keep (tokens: SessionTokens | null): Promise<void> {
  if (tokens === null) await rm(sessionFile, { force: true })
  else await writeFile(sessionFile, JSON.stringify({ refreshToken: tokens.refreshToken }), { mode: 0o600 })
}

const client = new TaskforgeClient({ baseUrl, onSession: keep })
const { user } = await client.signIn({
  email: process.env.TASKFORGE_EMAIL ?? 'ada@example.io',
  password: process.env.TASKFORGE_PASSWORD ?? 'correct horse battery'
})
console.log(`signed in as ${user.email}`)

// Later, in another process: resume the login from the kept refresh token.
// The first request refreshes, and the client refreshes again whenever the
// access token expires: once, however many requests were refused together.
const { refreshToken } = JSON.parse(await readFile(sessionFile, 'utf8')) as { refreshToken: string }
const resumed = new TaskforgeClient({ baseUrl, session: { refreshToken }, onSession: keep })
const me = await resumed.me()
console.log(`resumed as ${me.email}`)

// Scripts and integrations use a personal access token instead:
//   new TaskforgeClient({ baseUrl, personalAccessToken: process.env.TASKFORGE_TOKEN })
await resumed.signOut()
