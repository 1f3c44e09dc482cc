import closeWithGrace from 'close-with-grace'
import dotenv from 'dotenv'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { EmbeddedPostgresError } from './db/embedded/errors.js'
import { MigrationError } from './db/migrator.js'

/** Start-up failures a person can fix get their message alone, not a stack trace. */
function isExplainedFailure (error: unknown): error is Error {
  return error instanceof ConfigError || error instanceof EmbeddedPostgresError || error instanceof MigrationError
}

async function main (): Promise<void> {
  dotenv.config({ quiet: true })
  let config: Config
  try {
    config = loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`taskforge cannot start. ${error.message}\nSee .env.example for every variable.\n`)
    process.exit(1)
  }

  const app = await buildApp(config).catch((error: unknown) => {
    if (!isExplainedFailure(error)) throw error
    process.stderr.write(`taskforge cannot start: ${error.message}\n`)
    process.exit(1)
  })
  for (const warning of config.warnings) app.log.warn(warning)

  // A second signal, or SHUTDOWN_TIMEOUT_MS, ends the process even if closing hangs.
  closeWithGrace({ delay: config.shutdown.timeoutMs }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'shutting down after an uncaught error')
    else app.log.info({ signal }, 'shutting down')
    app.startDraining()
    // Readiness fails first; the load balancer notices and sends no more traffic, then the server stops accepting.
    if (err === undefined && config.shutdown.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdown.delayMs))
    await app.close()
    app.log.info('shut down cleanly')
  })

  await app.listen({ host: config.host, port: config.port })
}

await main()
