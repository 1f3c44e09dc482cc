/**
 * A detached process that owns the test PostgreSQL when the run has to start
 * one (a container or an embedded server): it prints the server's URL as one
 * JSON line, then keeps the server until SIGTERM.
 */
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { PROJECT_ROOT } from './test-server.js'

const kind = process.argv[2]
// Outside the project tree: when tests run as root the server runs as the postgres user, who can always enter the temp folder.
const embeddedDataDir = join(tmpdir(), `taskforge-test-pg-${createHash('sha256').update(PROJECT_ROOT).digest('hex').slice(0, 8)}`)
const log = pino({ level: 'warn' }, pino.destination(2))

async function startServer (): Promise<{ url: string; stop: () => Promise<unknown> }> {
  if (kind === 'container') {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql')
    const container = await new PostgreSqlContainer('postgres:18-alpine').start()
    return { url: container.getConnectionUri(), stop: () => container.stop() }
  }
  const { startEmbeddedPostgres } = await import('../../db/embedded/index.js')
  const server = await startEmbeddedPostgres({ dataDir: embeddedDataDir, log })
  // The suite creates a database per test file: it needs the superuser, not the app's role.
  return { url: server.adminUrl, stop: () => server.stop() }
}

const server = await startServer()
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`)
const stop = (): void => {
  server.stop().then(() => process.exit(0), (error: unknown) => {
    log.error({ err: error }, 'stopping the test database failed')
    process.exit(1)
  })
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
