/** Where the embedded PostgreSQL keeps its files under DATA_DIR. */
import { stat } from 'node:fs/promises'
import path from 'node:path'

export interface Paths {
  dataDir: string
  pgDir: string
  versionFile: string
  postmasterPidFile: string
  ownerPidFile: string
  credentialsFile: string
}

export function pathsFor (dataDir: string): Paths {
  const pgDir = path.join(dataDir, 'pg')
  return {
    dataDir,
    pgDir,
    versionFile: path.join(pgDir, 'PG_VERSION'),
    postmasterPidFile: path.join(pgDir, 'postmaster.pid'),
    ownerPidFile: path.join(dataDir, 'owner.pid'),
    credentialsFile: path.join(dataDir, 'credentials.json')
  }
}

export async function exists (file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false)
}
