/**
 * Where a V8 CPU profile (node --cpu-prof, e.g. from `npm run bench -- --profile DIR`)
 * spent its time: self time by package and by function, idle and GC apart.
 *
 *   tsx bench/profile-summary.ts [--top N] [--from S] [--to S] FILE.cpuprofile...
 *
 * Each file on its own; N rows, 25 by default. --from and --to keep the samples taken
 * between S seconds after the profile started and S seconds after (one scenario's
 * window of a bench run: the run's log gives its times).
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

interface Window { fromSeconds: number, toSeconds: number }

/** node_modules/<package>, the app's own file, or what V8 calls it. */
function owner (url: string, name: string): string {
  if (url === '') return `(${name || 'native'})`
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (inModules?.[1] !== undefined) return inModules[1]
  if (url.startsWith('node:')) return 'node:internal'
  const app = /\/(dist|bench)\/(.*)$/.exec(url)
  return app?.[2] === undefined ? url : `app: ${app[2]}`
}

function summarize (path: string, top: number, window: Window): void {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfMicros = new Map<number, number>()
  let elapsedMicros = 0
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0
    elapsedMicros += delta
    const seconds = elapsedMicros / 1e6
    if (seconds < window.fromSeconds || seconds > window.toSeconds) return
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + delta)
  })

  const functions = new Map<string, number>()
  const owners = new Map<string, number>()
  let total = 0
  for (const [id, micros] of selfMicros) {
    const node = byId.get(id)
    if (node === undefined) continue
    const { functionName, url, lineNumber } = node.callFrame
    total += micros
    const where = owner(url, functionName)
    const name = `${functionName || '(anonymous)'}  ${where}${url === '' ? '' : ` ${url.split('/').at(-1) ?? ''}:${lineNumber + 1}`}`
    functions.set(name, (functions.get(name) ?? 0) + micros)
    owners.set(where, (owners.get(where) ?? 0) + micros)
  }

  const print = (title: string, entries: Map<string, number>) => {
    process.stdout.write(`\n${title}\n`)
    for (const [name, micros] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`${(micros / total * 100).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(7)} ms  ${name}\n`)
    }
  }
  process.stdout.write(`${path}: ${(total / 1e6).toFixed(1)} s sampled\n`)
  print('self time by package or file', owners)
  print('self time by function', functions)
}

const { values, positionals: files } = parseArgs({
  options: { top: { type: 'string', default: '25' }, from: { type: 'string', default: '0' }, to: { type: 'string', default: 'Infinity' } },
  allowPositionals: true
})
if (files.length === 0) throw new Error('usage: tsx bench/profile-summary.ts [--top N] [--from S] [--to S] FILE.cpuprofile...')
for (const file of files) summarize(file, Number(values.top), { fromSeconds: Number(values.from), toSeconds: Number(values.to) })
