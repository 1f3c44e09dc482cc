import fp from 'fastify-plugin'
import type { Sql } from '../db/client.js'
import { openDatabase } from '../db/database.js'
import { migrate } from '../db/migrator.js'

declare module 'fastify' {
  interface FastifyInstance {
    sql: Sql
  }
}

/** Opens the database, brings its schema up to date, and closes it with the app. */
export default fp(async (app) => {
  const database = await openDatabase(app.config.database, app.log)
  app.log.info(`database: ${database.description}`)
  try {
    await migrate(database.sql, { log: app.log })
  } catch (error) {
    await database.close()
    throw error
  }
  app.decorate('sql', database.sql)
  app.addHook('onClose', async () => {
    await database.close()
  })
}, { name: 'db', dependencies: ['config'] })
