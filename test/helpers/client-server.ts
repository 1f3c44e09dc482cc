/** A real taskforge for the TypeScript client's tests: server.ts in a child process, on a fresh database. */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Test } from 'tap'
import { createTestDatabase } from './database.js'
import { LOAD_TEST_ENVIRONMENT, startServerProcess, type ServerProcess } from './server-process.js'
import { PROJECT_ROOT } from './test-server.js'

export const CLIENT_ROOT = join(PROJECT_ROOT, 'clients', 'typescript')
export const PASSWORD = 'long enough password'

export interface ClientTestServer extends ServerProcess {
  /** The value of a counter in /metrics whose labels include these, 0 when it has no such series yet. */
  metric: (name: string, labels: Record<string, string>) => Promise<number>
  /** Registers a new user over plain HTTP; resolves with their email. */
  newUser: () => Promise<string>
}

/** Starts taskforge on a database of its own, limits out of the way; environment adds or overrides settings. */
export async function startClientTestServer (t: Test, environment: NodeJS.ProcessEnv = {}): Promise<ClientTestServer> {
  const database = await createTestDatabase(t)
  const server = await startServerProcess(t, { ...LOAD_TEST_ENVIRONMENT, DATABASE_URL: database.url, ...environment })
  return {
    ...server,
    metric: async (name, labels) => {
      const text = await (await fetch(`${server.baseUrl}/metrics`)).text()
      const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
      let sum = 0
      for (const line of text.split('\n')) {
        const match = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line)
        if (match?.[1] !== name) continue
        const present = (match[2] ?? '').split(',')
        if (wanted.every((label) => present.includes(label))) sum += Number(match[3])
      }
      return sum
    },
    newUser: async () => {
      const email = `client-${randomBytes(6).toString('hex')}@example.io`
      const response = await fetch(`${server.baseUrl}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: PASSWORD })
      })
      if (response.status !== 201) throw new Error(`registering ${email} answered ${response.status}: ${await response.text()}`)
      return email
    }
  }
}
