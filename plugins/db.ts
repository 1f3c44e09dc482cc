import fp from 'fastify-plugin'
import type { Sql } from '../db/client.js'
import { openDatabase } from '../db/database.js'
import { migrate } from '../db/migrator.js'

declare module 'fastify' {
  interface FastifyInstance {
    sql: Sql
  }
}

export interface DbPluginOptions {
  /** A client the caller owns (opened, migrated and closed elsewhere), e.g. to render the OpenAPI document without a server. */
  sql?: Sql
}

/**
 * Decorates app.sql: opens the database, brings its schema up to date, and
 * closes it with the app. The app queries through an instrumented client: a span, a duration
 * sample and (at trace level) a log line per query.
 */
export default fp<DbPluginOptions>(async (app, options) => {
  const instrumented = (sql: Sql): Sql => {
    app.observability.metrics.databasePool(sql.options.max)
    return app.observability.instrumentSql(sql, sql.options.database)
  }
  if (options.sql !== undefined) {
    app.decorate('sql', instrumented(options.sql))
    return
  }
  const database = await openDatabase(app.config.database, app.log)
  app.log.info(`database: ${database.description}`)
  try {
    await migrate(database.sql, { log: app.log })
  } catch (error) {
    await database.close()
    throw error
  }
  app.decorate('sql', instrumented(database.sql))
  app.addHook('onClose', async () => {
    await database.close()
  })
}, { name: 'db', dependencies: ['config', 'observability'] })
