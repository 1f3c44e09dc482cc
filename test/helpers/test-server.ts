import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
// Named after the tap process (the parent of the set-up script and of every test file), so that two runs in one checkout keep apart.
const STATE_FILE = join(PROJECT_ROOT, '.tmp', `test-database-${process.ppid}.json`)

/** What the global set-up tells every test file: where the test server is and how this run names its databases. */
export interface TestServerState {
  /** A URL to a maintenance database of the server (the `postgres` database). */
  adminUrl: string
  /** Which server this is: "given", "container" or "embedded". */
  kind: 'given' | 'container' | 'embedded'
  /** Prefix of every database this run creates, so teardown drops only its own. */
  prefix: string
  /** The migrated template every test database is copied from. */
  template: string
  /** The detached process that keeps a container or embedded server alive, if any. */
  holderPid?: number
}

export function writeTestServerState (state: TestServerState): void {
  mkdirSync(dirname(STATE_FILE), { recursive: true })
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2))
}

export function readTestServerState (): TestServerState {
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as TestServerState
  } catch (error) {
    throw new Error(`no test database state in ${STATE_FILE}: run the tests through tap (npm test), whose global set-up writes it`, { cause: error })
  }
}

/** The URL of another database on the same server (db/client.ts's databaseUrlFor). */
export { databaseUrlFor as databaseUrl } from '../../db/client.js'

export function removeTestServerState (): void {
  rmSync(STATE_FILE, { force: true })
}
