/** The benchmark's results as Markdown tables (what BENCHMARKS.md shows). */
import type { Target, VariantId } from './http.js'
import type { JobsResults, JobsSummaryRow } from './jobs.js'
import type { LatencyResults } from './latency.js'
import type { DeliveryRate } from './webhooks.js'

export interface HttpSummaryRow {
  scenario: string
  title: string
  connections: number
  target: Target
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

/** Which of taskforge's variants ran, and why any did not. */
export interface HttpVariants {
  measured: VariantId[]
  skipped: Partial<Record<VariantId, string>>
  /** The redis variant's check that it counted in Redis: the reader's requests there at the end. */
  redisUrl?: string
  readerRequestsCountedInRedis?: number
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
  /** variants: absent from results files written before they existed. */
  http: { summary: HttpSummaryRow[]; runs: unknown[]; variants?: HttpVariants }
  argon2: {
    parameters: Record<string, number>
    summary: { concurrency: number; verifiesPerSecond: number; cpuMicrosPerVerify: number }[]
    runs: unknown[]
  }
  jobs: JobsResults | null
  /** Absent from results files written before the latency part existed. */
  latency?: LatencyResults | null
  /** Webhook deliveries to a local receiver (bench/webhooks.ts); absent from older results files. */
  webhooks?: DeliveryRate | null
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

/** Jobs a worker instance has in hand: running, and claimed ahead in a local queue where the queue has one. */
function inHand (row: JobsSummaryRow): string {
  return row.aheadOfSlots === undefined || row.aheadOfSlots === 0 ? String(row.inFlight) : `${String(row.inFlight)} + ${String(row.aheadOfSlots)} ahead`
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

  const webhooks = summary.webhooks ?? null
  if (webhooks !== null) {
    const patch = (scenario: string) => taskforgeRows.filter((row) => row.scenario === scenario)
    const costs = patch('tasks-patch').flatMap((plain) => {
      const hooked = patch('tasks-patch-webhook').find((row) => row.connections === plain.connections)
      return hooked === undefined ? [] : [`${show(hooked.requestsPerSecond)} req/s with one webhook against ${show(plain.requestsPerSecond)} without at ${String(plain.connections)} connections (${show(hooked.requestsPerSecond / plain.requestsPerSecond, 2)})`]
    })
    parts.push([
      ...(costs.length === 0 ? [] : [`PATCH /tasks/:id: ${costs.join('; ')}.`]),
      `Webhook deliveries to a receiver on 127.0.0.1: ${show(webhooks.events)} events in ${show(webhooks.seconds, 2)} s from the first change to the last delivery, ` +
        `**${show(webhooks.deliveredPerSecond)} events/s** (one webhook, WEBHOOKS_MAX_IN_FLIGHT=${String(webhooks.maxInFlight)}, JOBS_CONCURRENCY=${String(webhooks.jobsConcurrency)}).`
    ].join('\n\n'))
  }

  const variants = variantsTable(summary)
  if (variants !== undefined) parts.push(variants)

  if (summary.jobs !== null) {
    parts.push(table(
      ['queue', 'jobs in hand', 'instances', 'enqueue jobs/s', 'processed jobs/s', 'taskforge / this, processed', 'taskforge / this, enqueue', 'worker peak RSS MiB', 'worker CPU µs/job', 'PostgreSQL CPU µs/job: enqueue, drain'],
      summary.jobs.summary.map((row) => [
        row.configuration, inHand(row), String(row.instances), show(row.enqueuePerSecond), show(row.processedPerSecond),
        row.processedRatio === null ? '' : `**${show(row.processedRatio, 2)}**`,
        row.enqueueRatio === null ? '' : show(row.enqueueRatio, 2),
        show(row.peakWorkerRssMiB), show(row.workerCpuMicrosPerJob), `${show(row.databaseCpuMicrosPerJob.enqueue)}, ${show(row.databaseCpuMicrosPerJob.drain)}`
      ])
    ))
  }

  const latency = summary.latency ?? null
  if (latency !== null) {
    parts.push(table(
      ['worker', 'welcome jobs', 'median ms', 'p90 ms', 'p99 ms', 'min / max ms', 'other jobs run meanwhile'],
      latency.summary.map((row) => [
        row.mode === 'idle' ? 'idle (NOTIFY path)' : `busy (${String(latency.settings.chains)} chains, ${String(latency.settings.concurrency)} slots)`,
        String(row.jobs), show(row.medianMs, 2), show(row.p90Ms, 2), show(row.p99Ms, 2), `${show(row.minMs, 2)} / ${show(row.maxMs, 2)}`,
        row.chainJobsRun === null ? '–' : show(row.chainJobsRun)
      ])
    ))
  }

  if (summary.failures.length > 0) parts.push(`**Incomplete run.** ${summary.failures.join('; ')}`)
  parts.push(table(['target', 'wanted', 'measured', 'met'], summary.targets.map((target) => [target.name, target.wanted, target.actual, target.met ? 'yes' : '**no**'])))
  return `${parts.join('\n\n')}\n`
}

const VARIANT_NAMES: Record<VariantId, string> = {
  'taskforge-redis': 'REDIS_URL set',
  'taskforge-traceparent': 'traceparent, tracing off',
  'taskforge-pat': 'personal access token'
}

/** taskforge's variants beside taskforge itself and the twin, with the ones skipped and why; undefined if none ran or was asked for. */
function variantsTable (summary: BenchSummary): string | undefined {
  const rows = summary.http.summary.filter((row) => row.target !== 'taskforge' && row.target !== 'baseline')
  const skipped = Object.entries(summary.http.variants?.skipped ?? {})
  if (rows.length === 0 && skipped.length === 0) return undefined
  const plain = summary.http.summary.filter((row) => row.target === 'taskforge')
  const lines = table(
    ['scenario', 'conns', 'variant', 'req/s', 'ratio', 'CPU µs/req', 'CPU ratio', 'p50 / p99 ms', 'RSS MiB', 'taskforge as above: ratio, CPU ratio'],
    rows.map((row) => {
      const own = plain.find((entry) => entry.scenario === row.scenario && entry.connections === row.connections)
      return [
        row.title, String(row.connections), VARIANT_NAMES[row.target as VariantId], show(row.requestsPerSecond),
        row.ratio === null ? '–' : `**${show(row.ratio, 2)}**`, show(row.cpuMicrosPerRequest), row.cpuRatio === null ? '–' : show(row.cpuRatio, 2),
        `${show(row.latencyP50Ms)} / ${show(row.latencyP99Ms)}`, show(row.peakRssMiB),
        own === undefined ? '–' : `${own.ratio === null ? '–' : show(own.ratio, 2)}, ${own.cpuRatio === null ? '–' : show(own.cpuRatio, 2)}`
      ]
    })
  )
  const notes = skipped.map(([id, reason]) => `Variant "${VARIANT_NAMES[id as VariantId]}" not measured: ${reason}.`)
  return [lines, ...notes].join('\n\n')
}

const nodeMajor = (summary: BenchSummary): number => Number(/^v?(\d+)/.exec(summary.versions.node ?? '')?.[1] ?? 0)
const runtimeName = (summary: BenchSummary): string => `Node ${(summary.versions.node ?? '?').replace(/^v/, '')}`
/** Column headings name the major only; the first line gives the full versions. */
const runtimeLabel = (summary: BenchSummary): string => `Node ${String(nodeMajor(summary))}`

/**
 * Several results files, one per runtime, side by side: the newest Node first
 * (production's), each with the ratios measured in its own run. Then each run's
 * own tables in full.
 */
export function renderComparison (summaries: BenchSummary[]): string {
  const runs = [...summaries].sort((a, b) => nodeMajor(b) - nodeMajor(a))
  const names = runs.map(runtimeLabel)
  const parts: string[] = [
    `Runtimes, newest first: ${runs.map((run) => `${runtimeName(run)} (${run.kind} run, ${run.startedAt.slice(0, 16).replace('T', ' ')} UTC)`).join('; ')}.`
  ]
  const httpKey = (row: { scenario: string; connections: number }) => `${row.scenario}/${String(row.connections)}`
  // Rows in the order of the run that has the most (a full run's), then any only others have.
  const byRows = <T>(rowsOf: (run: BenchSummary) => T[], key: (row: T) => string) =>
    [...new Set([...runs].sort((a, b) => rowsOf(b).length - rowsOf(a).length).flatMap((run) => rowsOf(run).map(key)))]
  const keys = byRows((run) => run.http.summary.filter((row) => row.target === 'taskforge'), httpKey)
  const rowOf = (run: BenchSummary, key: string, target: 'taskforge' | 'baseline') => run.http.summary.find((row) => httpKey(row) === key && row.target === target)
  if (keys.length > 0) {
    parts.push(table(
      ['scenario', 'conns', ...names.flatMap((name) => [`${name}: ratio`, `${name}: CPU ratio`, `${name}: req/s (twin)`, `${name}: p99 ms (twin)`, `${name}: RSS MiB (twin)`])],
      keys.map((key) => {
        const first = runs.map((run) => rowOf(run, key, 'taskforge')).find((row) => row !== undefined)
        return [first?.title ?? key, String(first?.connections ?? ''), ...runs.flatMap((run) => {
          const app = rowOf(run, key, 'taskforge')
          const twin = rowOf(run, key, 'baseline')
          if (app === undefined) return ['–', '–', '–', '–', '–']
          const alongside = (value: number | null, twinValue: number | null | undefined) => twin === undefined ? show(value) : `${show(value)} (${show(twinValue ?? null)})`
          return [
            app.ratio === null ? '–' : `**${show(app.ratio, 2)}**`,
            app.cpuRatio === null ? '–' : show(app.cpuRatio, 2),
            alongside(app.requestsPerSecond, twin?.requestsPerSecond),
            alongside(app.latencyP99Ms, twin?.latencyP99Ms),
            alongside(app.peakRssMiB, twin?.peakRssMiB)
          ]
        })]
      })
    ))
  }

  const variantKey = (row: HttpSummaryRow) => `${row.scenario}/${String(row.connections)}/${row.target}`
  const variantKeys = byRows((run) => run.http.summary.filter((row) => row.target !== 'taskforge' && row.target !== 'baseline'), variantKey)
  if (variantKeys.length > 0) {
    parts.push(table(
      ['scenario', 'conns', 'variant', ...names.flatMap((name) => [`${name}: ratio`, `${name}: CPU ratio`, `${name}: p99 ms`, `${name}: RSS MiB`])],
      variantKeys.map((key) => {
        const first = runs.map((run) => run.http.summary.find((row) => variantKey(row) === key)).find((row) => row !== undefined)
        return [first?.title ?? key, String(first?.connections ?? ''), first === undefined ? key : VARIANT_NAMES[first.target as VariantId], ...runs.flatMap((run) => {
          const row = run.http.summary.find((entry) => variantKey(entry) === key)
          if (row === undefined) return ['–', '–', '–', '–']
          return [row.ratio === null ? '–' : `**${show(row.ratio, 2)}**`, row.cpuRatio === null ? '–' : show(row.cpuRatio, 2), show(row.latencyP99Ms), show(row.peakRssMiB)]
        })]
      })
    ))
  }

  const jobKey = (row: JobsSummaryRow) => `${row.configuration}/${String(row.instances)}`
  const jobKeys = byRows((run) => run.jobs?.summary ?? [], jobKey)
  if (jobKeys.length > 0) {
    parts.push(table(
      ['queue', 'jobs in hand', 'instances', ...runs.flatMap((run) => {
        const name = runtimeLabel(run)
        const graphile = run.jobs?.settings.graphileWorkerVersion
        return [`${name}: enqueue jobs/s`, `${name}: processed jobs/s`, `${name}: taskforge / this, processed${graphile === undefined ? '' : ` (graphile-worker ${graphile})`}`]
      })],
      jobKeys.map((key) => {
        const first = runs.map((run) => run.jobs?.summary.find((row) => jobKey(row) === key)).find((row) => row !== undefined)
        return [first?.configuration ?? key, first === undefined ? '' : inHand(first), String(first?.instances ?? ''), ...runs.flatMap((run) => {
          const row = run.jobs?.summary.find((entry) => jobKey(entry) === key)
          if (row === undefined) return ['–', '–', '–']
          return [show(row.enqueuePerSecond), show(row.processedPerSecond), row.processedRatio === null ? '' : `**${show(row.processedRatio, 2)}**`]
        })]
      })
    ))
  }

  const modes = [...new Set(runs.flatMap((run) => (run.latency?.summary ?? []).map((row) => row.mode)))]
  if (modes.length > 0) {
    parts.push(table(
      ['queue latency: commit to welcome job start', ...names.flatMap((name) => [`${name}: median ms`, `${name}: p99 ms`])],
      modes.map((mode) => [mode === 'idle' ? 'idle worker (NOTIFY path)' : 'busy worker', ...runs.flatMap((run) => {
        const row = run.latency?.summary.find((entry) => entry.mode === mode)
        return row === undefined ? ['–', '–'] : [show(row.medianMs, 2), show(row.p99Ms, 2)]
      })])
    ))
  }

  const targetNames = [...new Set(runs.flatMap((run) => run.targets.map((target) => target.name)))]
  parts.push(table(
    ['target', 'wanted', ...names],
    targetNames.map((name) => {
      const wanted = runs.flatMap((run) => run.targets.filter((target) => target.name === name)).at(0)?.wanted ?? ''
      return [name, wanted, ...runs.map((run) => {
        const target = run.targets.find((entry) => entry.name === name)
        return target === undefined ? '–' : `${target.actual}${target.met ? '' : ' **(no)**'}`
      })]
    })
  ))

  for (const run of runs) parts.push(`#### ${runtimeName(run)}, in full\n\n${renderMarkdown(run).trimEnd()}`)
  return `${parts.join('\n\n')}\n`
}
