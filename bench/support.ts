/** Processes, databases and numbers: what the benchmark scripts share. */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream, readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import { databaseUrlFor } from '../db/client.js'

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres'

/**
 * The NODE_OPTIONS the container image runs the app with (the Dockerfile's
 * `ENV NODE_OPTIONS=...`, its one source), or undefined where the Dockerfile
 * sets none: a bench starts the app as it is deployed. `tree` is the source tree
 * whose Dockerfile counts (compare.ts builds other commits).
 */
export function imageNodeOptions (tree = PROJECT_ROOT): string | undefined {
  const dockerfile = readFileSync(join(tree, 'Dockerfile'), 'utf8')
  const match = /^ENV NODE_OPTIONS=(?:"([^"]*)"|(\S+))\s*$/m.exec(dockerfile)
  return match === null ? undefined : match[1] ?? match[2]
}

/** Progress lines go to stderr, so that stdout stays for the report. */
export function say (message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`)
}

/** The median of the finite values: a failed repetition (NaN) is left out, not sorted at random among the others. */
export function median (values: readonly number[]): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] ?? Number.NaN : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}

export function round (value: number, digits = 0): number {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

/** A new empty database on the admin URL's server; its name is random hex after the prefix, safe in DDL. */
export async function createDatabase (adminUrl: string, prefix: string): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`
  const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined })
  try {
    await admin.unsafe(`create database ${name}`)
  } finally {
    await admin.end()
  }
  return {
    name,
    url: databaseUrlFor(adminUrl, name),
    drop: async () => {
      const dropper = postgres(adminUrl, { max: 1, onnotice: () => undefined })
      try {
        await dropper.unsafe(`drop database if exists ${name} with (force)`)
      } finally {
        await dropper.end()
      }
    }
  }
}

/** Resident memory of a process in MiB, from /proc (Linux); undefined elsewhere or once it is gone. */
function rssMiB (pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match?.[1] === undefined ? undefined : Number(match[1]) / 1024
  } catch {
    return undefined
  }
}

const CLOCK_TICKS_PER_SECOND = 100

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds (pid: number): number | undefined {
  try {
    // The command name (field 2) may hold spaces; the fields we want follow its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const user = Number(fields[11])
    const system = Number(fields[12])
    return Number.isFinite(user) && Number.isFinite(system) ? (user + system) / CLOCK_TICKS_PER_SECOND : undefined
  } catch {
    return undefined
  }
}

/** CPU seconds so far of each PostgreSQL backend serving `database` (on this machine), by pid. */
function backendCpuSeconds (database: string): Map<number, number> {
  const backends = new Map<number, number>()
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return backends
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // A backend's title: "postgres: 15/main: <user> <database> <client> <state>".
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (!title.startsWith('postgres:') || !title.includes(` ${database} `)) continue
      const seconds = cpuSeconds(Number(entry))
      if (seconds !== undefined) backends.set(Number(entry), seconds)
    } catch {
      // gone meanwhile
    }
  }
  return backends
}

/** Busy and total jiffies of all CPUs together, from /proc/stat (Linux). */
function machineJiffies (): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
    const [, ...fields] = line.trim().split(/\s+/)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields.map(Number)
    const busy = user + nice + system + irq + softirq + steal
    return { busy, total: busy + idle + iowait }
  } catch {
    return undefined
  }
}

export interface ResourceUse {
  /** Highest resident set size seen, MiB. */
  peakRssMiB: number | null
  /** CPU time over wall time, in percent of one core. */
  cpuPercent: number | null
  /** CPU seconds the process used. */
  cpuSeconds: number | null
  /** The whole machine meanwhile (every process, the load generator and PostgreSQL included), in percent of all cores. */
  machineBusyPercent: number | null
  /** 1-minute load average as the span began. */
  loadAverage: number
}

/** CPU seconds the PostgreSQL backends serving `database` use from now until stop (backends on this machine only). */
export function watchDatabase (database: string): { stop: () => number } {
  const atStart = backendCpuSeconds(database)
  return {
    stop () {
      let used = 0
      for (const [backend, seconds] of backendCpuSeconds(database)) used += seconds - (atStart.get(backend) ?? 0)
      return round(used, 2)
    }
  }
}

/**
 * Samples a process's memory while something runs; CPU is the difference over
 * the whole span. Call stop() in a finally: it ends the sampling (whose timer
 * does not keep the process alive meanwhile).
 */
export function watchResources (pid: number, intervalMs = 250): { stop: () => ResourceUse } {
  const startedAt = performance.now()
  const loadAverage = round(os.loadavg()[0] ?? 0, 2)
  const machineAtStart = machineJiffies()
  const cpuAtStart = cpuSeconds(pid)
  let peak = rssMiB(pid)
  const timer = setInterval(() => {
    const rss = rssMiB(pid)
    if (rss !== undefined && (peak === undefined || rss > peak)) peak = rss
  }, intervalMs)
  timer.unref()
  return {
    stop () {
      clearInterval(timer)
      const rss = rssMiB(pid)
      if (rss !== undefined && (peak === undefined || rss > peak)) peak = rss
      const cpuAtEnd = cpuSeconds(pid)
      const machineAtEnd = machineJiffies()
      const seconds = (performance.now() - startedAt) / 1000
      const used = cpuAtStart === undefined || cpuAtEnd === undefined ? null : cpuAtEnd - cpuAtStart
      return {
        peakRssMiB: peak === undefined ? null : round(peak, 1),
        cpuPercent: used === null ? null : round(used / seconds * 100),
        cpuSeconds: used === null ? null : round(used, 2),
        machineBusyPercent: machineAtStart === undefined || machineAtEnd === undefined || machineAtEnd.total === machineAtStart.total
          ? null
          : round((machineAtEnd.busy - machineAtStart.busy) / (machineAtEnd.total - machineAtStart.total) * 100),
        loadAverage
      }
    }
  }
}

const children = new Set<ChildProcess>()

/** Remembers a child process until it exits, so that an interrupted run can end it (killChildren). */
export function track<C extends ChildProcess> (child: C): C {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Ends every child process still running: servers, workers. */
export function killChildren (): void {
  for (const child of children) child.kill('SIGKILL')
}

export interface ServerHandle {
  name: string
  url: string
  child: ChildProcess
  pid: number
  /** Lines the server wrote at warn level or above (LOG_LEVEL=warn), counted as they come. */
  warnings: () => number
  stop: () => Promise<void>
}

interface StartServerOptions {
  name: string
  args: string[]
  env: NodeJS.ProcessEnv
  cwd: string
  port: number
  /** Polled until it answers 200. */
  readyPath: string
  /** Where its stdout and stderr go. */
  logFile: string
  timeoutMs?: number
  /** A command the server runs under, e.g. valgrind and its options; Node and args follow it. */
  wrapper?: string[]
}

/** Starts a Node server as a child process with exactly the given environment and waits until readyPath answers 200. */
export async function startServer (options: StartServerOptions): Promise<ServerHandle> {
  const log = createWriteStream(options.logFile)
  const [command = process.execPath, ...commandArgs] = [...(options.wrapper ?? []), process.execPath, ...options.args]
  const child = track(spawn(command, commandArgs, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] }))
  let warnings = 0
  child.stdout.on('data', (chunk: Buffer) => {
    log.write(chunk)
    warnings += chunk.toString('utf8').split('\n').filter((line) => line.trim() !== '').length
  })
  child.stderr.pipe(log)
  const url = `http://127.0.0.1:${options.port}`
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${options.name} exited with ${child.exitCode} before it was ready; see ${options.logFile}`)
    const status = await fetch(`${url}${options.readyPath}`).then((response) => response.status, () => 0)
    if (status === 200) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${options.name} was not ready after ${options.timeoutMs ?? 30_000} ms; see ${options.logFile}`)
    }
    await sleep(100)
  }
  const pid = child.pid
  if (pid === undefined) throw new Error(`${options.name} has no pid`)
  return {
    name: options.name,
    url,
    child,
    pid,
    warnings: () => warnings,
    async stop () {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit')
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
        await exited
        clearTimeout(timer)
      }
      log.end()
    }
  }
}

/** Runs a command to completion, its output going to our stderr; rejects on a non-zero exit. */
export async function run (command: string, args: string[], cwd: string): Promise<void> {
  const child = spawn(command, args, { cwd, stdio: ['ignore', process.stderr, process.stderr] })
  const [code] = await once(child, 'exit') as [number | null]
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${String(code)}`)
}
