/** The benchmark's results as Markdown tables (what BENCHMARKS.md shows). */
import type { JobsResults } from './jobs.js'

export interface HttpSummaryRow {
  scenario: string
  title: string
  connections: number
  target: 'taskforge' | 'baseline'
  requestsPerSecond: number
  latencyP50Ms: number
  latencyP99Ms: number
  /** Socket errors and time-outs, over every repetition. */
  errors: number
  non2xx: number
  peakRssMiB: number | null
  cpuPercent: number | null
  /** Server CPU time per request (median of the repetitions). */
  cpuMicrosPerRequest: number
  /** PostgreSQL backends' CPU time per request (median). */
  databaseCpuMicrosPerRequest: number
  /** The whole machine's CPU use during the runs, in percent of all cores (median). */
  machineBusyPercent: number
  loadAverage: number
  /** Lines the server logged at warn or above, over every repetition. */
  serverWarnings: number
  /** taskforge / baseline, or taskforge / raw argon2 verify rate for login; null where there is no twin. */
  ratio: number | null
  ratioAgainst: 'baseline' | 'argon2' | null
  /**
   * The same comparison in CPU time per request (twin's / taskforge's): what
   * the ratio would be if the server alone were the bottleneck, and far less
   * sensitive to whatever else the machine runs meanwhile.
   */
  cpuRatio: number | null
}

export interface TargetCheck {
  name: string
  wanted: string
  actual: string
  met: boolean
}

export interface BenchSummary {
  kind: 'full' | 'quick'
  startedAt: string
  finishedAt: string
  machine: Record<string, string | number>
  versions: Record<string, string>
  settings: Record<string, unknown>
  seed: Record<string, number>
  conditions: Record<string, { min: number; median: number; max: number } | null>
  http: { summary: HttpSummaryRow[]; runs: unknown[] }
  argon2: { parameters: Record<string, number>; summary: { concurrency: number; verifiesPerSecond: number; cpuMicrosPerVerify: number }[]; runs: unknown[] }
  jobs: JobsResults | null
  targets: TargetCheck[]
  /** Parts of the run that failed (the database went away, a server did not start, ...): empty for a complete run. */
  failures: string[]
}

const show = (value: number | null, digits = 0): string =>
  value === null || Number.isNaN(value) ? '–' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

function table (header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

export function renderMarkdown (summary: BenchSummary): string {
  const parts: string[] = []
  const load = summary.conditions.loadAverage
  const busy = summary.conditions.machineBusyPercent
  if (load !== null && load !== undefined && busy !== null && busy !== undefined) {
    parts.push(`During the HTTP runs: 1-minute load average ${show(load.min, 1)} to ${show(load.max, 1)} (median ${show(load.median, 1)}); all cores busy ${show(busy.min)} to ${show(busy.max)} % (median ${show(busy.median)} %).`)
  }
  const httpRows = summary.http.summary
  const byKey = new Map(httpRows.map((row) => [`${row.scenario}/${String(row.connections)}/${row.target}`, row]))
  const taskforgeRows = httpRows.filter((row) => row.target === 'taskforge')
  parts.push(table(
    ['scenario', 'conns', 'req/s', 'p50 / p99 ms', 'errors, non-2xx', 'RSS MiB', 'CPU µs/req: server, PostgreSQL', 'baseline req/s', 'baseline p50 / p99 ms', 'baseline CPU µs/req: server, PostgreSQL', 'ratio', 'CPU ratio'],
    taskforgeRows.map((row) => {
      const twin = byKey.get(`${row.scenario}/${String(row.connections)}/baseline`)
      const argon2 = row.ratioAgainst === 'argon2' ? summary.argon2.summary.find((entry) => entry.concurrency === row.connections) : undefined
      return [
        row.title, String(row.connections), show(row.requestsPerSecond), `${show(row.latencyP50Ms)} / ${show(row.latencyP99Ms)}`,
        `${String(row.errors)}, ${String(row.non2xx)}`, show(row.peakRssMiB), `${show(row.cpuMicrosPerRequest)}, ${show(row.databaseCpuMicrosPerRequest)}`,
        twin === undefined ? (argon2 === undefined ? '–' : `${show(argon2.verifiesPerSecond, 1)} verifies/s (raw argon2)`) : show(twin.requestsPerSecond),
        twin === undefined ? '–' : `${show(twin.latencyP50Ms)} / ${show(twin.latencyP99Ms)}`,
        twin === undefined ? (argon2 === undefined ? '–' : `${show(argon2.cpuMicrosPerVerify)} per verify`) : `${show(twin.cpuMicrosPerRequest)}, ${show(twin.databaseCpuMicrosPerRequest)}`,
        row.ratio === null ? '–' : `**${show(row.ratio, 2)}**`,
        row.cpuRatio === null ? '–' : show(row.cpuRatio, 2)
      ]
    })
  ))

  if (summary.jobs !== null) {
    parts.push(table(
      ['queue', 'jobs in hand', 'instances', 'enqueue jobs/s', 'processed jobs/s', 'taskforge / this, processed', 'taskforge / this, enqueue', 'worker peak RSS MiB', 'worker CPU µs/job', 'PostgreSQL CPU µs/job: enqueue, drain'],
      summary.jobs.summary.map((row) => [
        row.configuration, String(row.inFlight), String(row.instances), show(row.enqueuePerSecond), show(row.processedPerSecond),
        row.processedRatio === null ? '' : `**${show(row.processedRatio, 2)}**`,
        row.enqueueRatio === null ? '' : show(row.enqueueRatio, 2),
        show(row.peakWorkerRssMiB), show(row.workerCpuMicrosPerJob), `${show(row.databaseCpuMicrosPerJob.enqueue)}, ${show(row.databaseCpuMicrosPerJob.drain)}`
      ])
    ))
  }

  if (summary.failures.length > 0) parts.push(`**Incomplete run.** ${summary.failures.join('; ')}`)
  parts.push(table(['target', 'wanted', 'measured', 'met'], summary.targets.map((target) => [target.name, target.wanted, target.actual, target.met ? 'yes' : '**no**'])))
  return `${parts.join('\n\n')}\n`
}
