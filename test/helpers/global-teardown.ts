/** Runs once after the test files (.taprc `after`): drops this run's databases and stops a server the run started. */
import postgres from 'postgres'
import { readTestServerState, removeTestServerState } from './test-server.js'

const state = readTestServerState()
const admin = postgres(state.adminUrl, { max: 1, onnotice: () => undefined })
try {
  const leftovers = await admin<{ datname: string }[]>`
    select datname from pg_database where starts_with(datname, ${state.prefix})`
  for (const { datname } of leftovers) await admin.unsafe(`drop database if exists "${datname}" with (force)`)
} finally {
  await admin.end()
}

if (state.holderPid !== undefined) {
  const pid = state.holderPid
  const alive = (): boolean => {
    try { process.kill(pid, 0); return true } catch { return false }
  }
  if (alive()) process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + 30_000
  while (alive() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
}

removeTestServerState()
