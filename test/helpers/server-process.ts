import { randomBytes } from 'node:crypto'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Test } from 'tap'
import { PROJECT_ROOT } from './test-server.js'

export interface ServerProcess {
  child: ChildProcess
  /** http://127.0.0.1:PORT once it listens. */
  baseUrl: string
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[]
  stderr: () => string
  /** Resolves with the first log line, written so far or later, whose msg is this (or matches it). */
  waitForLog: (msg: string | RegExp, timeoutMs?: number) => Promise<Record<string, unknown>>
  /** Settles when the process has exited and its output is read: its exit code, and when it exited (performance.now()). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
}

/**
 * Runs server.ts as `npm start` would, in a child process, on a free port (unless PORT says which); resolves once it listens.
 * `preload`: modules to run in the process before the server (`--import`).
 */
export async function startServerProcess (
  t: Test, environment: NodeJS.ProcessEnv, timeoutMs = 30_000, preload: string[] = []
): Promise<ServerProcess> {
  const imports = ['tsx', ...preload].flatMap((module) => ['--import', module])
  const child = spawn(process.execPath, [...imports, join(PROJECT_ROOT, 'server.ts')], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH, NODE_ENV: 'test', LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: '0', ...environment },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  // Resolved once its output is read to the end too ('close'), timed at the exit itself.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('exit', (code, signal) => {
      const at = performance.now()
      child.once('close', () => { resolve({ code, signal, at }) })
    })
  })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exited
    }
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8') })
  const logs: Record<string, unknown>[] = []
  const waiting = new Set<{ matches: (entry: Record<string, unknown>) => boolean; resolve: (entry: Record<string, unknown>) => void }>()
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`the server did not listen within ${timeoutMs} ms: ${stderr}`)) }, timeoutMs)
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>
      logs.push(entry)
      for (const waiter of waiting) if (waiter.matches(entry)) waiter.resolve(entry)
      const match = /^Server listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(String(entry.msg))
      if (match?.[1] !== undefined) { clearTimeout(timer); resolve(match[1]) }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the server exited with ${String(code)}: ${stderr}`)) })
  })
  const waitForLog = (msg: string | RegExp, waitMs = 30_000) => {
    const matches = (entry: Record<string, unknown>) => typeof msg === 'string' ? entry.msg === msg : msg.test(String(entry.msg))
    const found = logs.find(matches)
    if (found !== undefined) return Promise.resolve(found)
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const waiter = {
        matches,
        resolve: (entry: Record<string, unknown>) => { clearTimeout(timer); waiting.delete(waiter); resolve(entry) }
      }
      const timer = setTimeout(() => { waiting.delete(waiter); reject(new Error(`no log line "${String(msg)}" within ${waitMs} ms`)) }, waitMs)
      waiting.add(waiter)
    })
  }
  return { child, baseUrl, logs, stderr: () => stderr, waitForLog, exited }
}

/** Runs server.ts expecting it to refuse to start (as another user, given `as`); resolves with its exit code and what it printed. */
export async function runFailingServer (
  environment: NodeJS.ProcessEnv, as?: { uid: number; gid: number }
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'server.ts')], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH, NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...as
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8') })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8') })
  const [code] = await once(child, 'exit') as [number | null]
  return { code, stderr, stdout }
}

/** For a server under load in a test: limits out of the way, argon2 cheap (its strength is tested elsewhere). */
export const LOAD_TEST_ENVIRONMENT = {
  // A generated one: the same environment may run in production mode, which refuses guessable secrets.
  JWT_SECRET: randomBytes(48).toString('base64'),
  RATE_LIMIT_MAX: '1000000',
  AUTH_RATE_LIMIT_MAX: '1000',
  ARGON2_MEMORY_KIB: '8192',
  ARGON2_TIME_COST: '1'
} as const

/** Registers a user over HTTP and resolves with their access token. */
export async function registerOverHttp (baseUrl: string, email: string): Promise<string> {
  const response = await fetch(`${baseUrl}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'long enough password' })
  })
  if (response.status !== 201) throw new Error(`registering ${email} answered ${response.status}: ${await response.text()}`)
  const { accessToken } = await response.json() as { accessToken: string }
  return accessToken
}
