/**
 * graphile-worker for the job-queue benchmark, in the line the running Node
 * can run: 0.18 needs Node 22.18 or later, 0.16 is the last line for Node 20.
 * Both are installed side by side under npm aliases (package.json:
 * graphile-worker-0-18, graphile-worker-0-16); the API used here is the same
 * in both. Only 0.18 has its documented batching (a local queue of locked jobs,
 * completions batched together), so the batched configuration runs on 0.18 only.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type * as GraphileWorker from 'graphile-worker-0-18'
import { PROJECT_ROOT } from './support.js'

export type GraphileWorkerModule = Pick<typeof GraphileWorker, 'run' | 'makeWorkerUtils' | 'Logger'>

export interface GraphileWorkerLine {
  packageName: 'graphile-worker-0-18' | 'graphile-worker-0-16'
  version: string
  /** localQueue and completeJobBatchDelay exist (0.17 and later). */
  batching: boolean
}

/** The newest line this runtime runs: 0.18 from Node 22.18 on, else 0.16. */
export function graphileWorkerLine (nodeVersion = process.versions.node): GraphileWorkerLine {
  const [major = 0, minor = 0] = nodeVersion.split('.').map(Number)
  const modern = major > 22 || (major === 22 && minor >= 18)
  const packageName = modern ? 'graphile-worker-0-18' : 'graphile-worker-0-16'
  const { version } = JSON.parse(readFileSync(join(PROJECT_ROOT, 'node_modules', packageName, 'package.json'), 'utf8')) as { version: string }
  return { packageName, version, batching: modern }
}

export async function loadGraphileWorker (line: GraphileWorkerLine): Promise<GraphileWorkerModule> {
  // 0.16's API is the part of 0.18's used here; the types are 0.18's.
  const loaded: unknown = await import(line.packageName)
  return loaded as GraphileWorkerModule
}

/** A graphile-worker logger that keeps warnings and errors (to stderr) and drops the rest, as LOG_LEVEL=warn does for taskforge. */
export function quietLogger (graphile: GraphileWorkerModule, prefix: string): InstanceType<GraphileWorkerModule['Logger']> {
  return new graphile.Logger(() => (level, message) => {
    if (level === 'error' || level === 'warning') process.stderr.write(`${prefix}: ${level}: ${message}\n`)
  })
}
