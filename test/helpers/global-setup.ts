/**
 * Runs once before the test files (.taprc `before`). Picks the PostgreSQL the
 * suite runs on, as DESIGN.md orders it: TEST_DATABASE_URL or DATABASE_URL;
 * else a container when Docker answers; else an embedded server. Then builds
 * the migrated template that each test file copies into a database of its own.
 */
import { spawn } from 'node:child_process'
import { createWriteStream, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import postgres from 'postgres'
import { migrate } from '../../db/migrator.js'
import { PROJECT_ROOT, databaseUrl, writeTestServerState, type TestServerState } from './test-server.js'

const HOLDER_START_TIMEOUT_MS = 120_000

async function dockerAnswers (): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers')
    await getContainerRuntimeClient()
    return true
  } catch {
    return false
  }
}

/** Starts the detached holder of a container or embedded server and waits for its URL. */
async function startHolder (kind: 'container' | 'embedded'): Promise<{ url: string; pid: number }> {
  mkdirSync(join(PROJECT_ROOT, '.tmp'), { recursive: true })
  const logFile = join(PROJECT_ROOT, '.tmp', 'test-database.log')
  const log = createWriteStream(logFile)
  await new Promise((resolve) => log.once('open', resolve))
  const holder = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'test', 'helpers', 'database-holder.ts'), kind], {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', log]
  })
  const pid = holder.pid
  if (pid === undefined) throw new Error('could not start the test database holder')

  const lines = createInterface({ input: holder.stdout })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`the ${kind} test database did not start in time; see ${logFile}`)) }, HOLDER_START_TIMEOUT_MS)
    lines.once('line', (line) => { clearTimeout(timer); resolve((JSON.parse(line) as { url: string }).url) })
    holder.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the ${kind} test database exited with ${String(code)}; see ${logFile}`)) })
  })
  lines.close()
  holder.stdout.destroy()
  holder.unref()
  return { url, pid }
}

async function chooseServer (): Promise<Pick<TestServerState, 'adminUrl' | 'kind' | 'holderPid'>> {
  const given = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? process.env.DB_URL
  if (given !== undefined && given !== '') return { adminUrl: given, kind: 'given' }
  const kind = await dockerAnswers() ? 'container' : 'embedded'
  const holder = await startHolder(kind)
  return { adminUrl: databaseUrl(holder.url, 'postgres'), kind, holderPid: holder.pid }
}

const server = await chooseServer()
const prefix = `tf_test_${Date.now().toString(36)}_`
const template = `${prefix}template`
const admin = postgres(server.adminUrl, { max: 1, onnotice: () => undefined })
try {
  await admin.unsafe(`create database ${template}`)
  const templateSql = postgres(databaseUrl(server.adminUrl, template), { max: 1, onnotice: () => undefined })
  try {
    await migrate(templateSql)
  } finally {
    await templateSql.end()
  }
} finally {
  await admin.end()
}
writeTestServerState({ ...server, prefix, template })
process.stdout.write(`# test database: ${server.kind} PostgreSQL, template ${template}\n`)
