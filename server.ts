import closeWithGrace from 'close-with-grace'
import dotenv from 'dotenv'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { DatabaseSetupError } from './db/errors.js'

/** Start-up failures a person can fix get their message alone, not a stack trace. */
function isExplainedFailure (error: unknown): error is Error {
  return error instanceof ConfigError || error instanceof DatabaseSetupError
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

  // SHUTDOWN_TIMEOUT_MS after the signal, or at a second signal, the process exits whatever still runs.
  const { delayMs, timeoutMs } = config.shutdown
  closeWithGrace({
    delay: timeoutMs,
    onSecondSignal: (signal) => { app.log.error({ signal }, 'second signal: exiting at once') },
    onTimeout: () => { app.log.error({ timeoutMs }, 'shutdown did not finish within SHUTDOWN_TIMEOUT_MS: exiting') }
  }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'shutting down after an uncaught error')
    else app.log.info({ signal }, 'shutting down')
    // What still runs at this deadline is cut, so that unfinished jobs are handed back and the database closed before the forced exit.
    const deadline = performance.now() + timeoutMs - Math.min(1000, timeoutMs / 4)
    app.startDraining()
    // The worker stops claiming now; its running jobs get until the deadline, then go back to the queue unfinished.
    const jobsStopped = app.jobs.stopWorker(deadline - performance.now()).catch((error: unknown) => {
      app.log.error({ err: error }, 'the job worker did not stop cleanly')
    })
    // Readiness fails first; the load balancer notices and sends no more traffic, then the server stops accepting.
    if (err === undefined && delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
    await app.closeConnections(deadline)
    await jobsStopped
    await app.close()
    app.log.info('shut down cleanly')
  })

  await app.listen({ host: config.host, port: config.port })
}

await main()
