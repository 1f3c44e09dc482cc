import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { inCi } from './ci.js'
import { eventually } from './jobs.js'
import { freePort } from './smtp.js'

/** Debian's HAProxy (apt-get install haproxy); .ci/run installs it when missing. */
export const HAPROXY_PATH = '/usr/sbin/haproxy'

/**
 * Why an HAProxy test cannot run here, or undefined when it can. Outside CI
 * a missing HAProxy skips the test; in CI it fails it (the caller asserts).
 */
export function haproxySkipReason (): string | undefined {
  if (existsSync(HAPROXY_PATH) || inCi()) return undefined
  return `${HAPROXY_PATH} is missing: install Debian's haproxy (apt-get install haproxy) to run this test; in CI (CI=true) this is a failure`
}

export interface Haproxy {
  /** http://127.0.0.1:PORT, the load balancer's front end. */
  baseUrl: string
  /** What HAProxy's health checks make of a server now: "UP", "DOWN", "UP 1/2" (going down), "DOWN 1/2" (coming up)... */
  status: (server: string) => Promise<string>
  /** Resolves once HAProxy sends traffic to this server again. */
  waitUntilUp: (server: string, timeoutMs?: number) => Promise<void>
}

/**
 * HAProxy in front of `servers` (name to port on 127.0.0.1), round robin,
 * checking `GET checkPath` every `checkIntervalMs` with its default thresholds
 * (down after 3 failed checks, up after 2 good ones); stopped when the test ends.
 */
export async function startHaproxy (
  t: Test, { servers, checkPath, checkIntervalMs }: { servers: Record<string, number>; checkPath: string; checkIntervalMs: number }
): Promise<Haproxy> {
  const [port, statsPort] = [await freePort(), await freePort()]
  const folder = await mkdtemp(join(tmpdir(), 'taskforge-haproxy-'))
  t.teardown(() => rm(folder, { recursive: true, force: true }))
  const config = join(folder, 'haproxy.cfg')
  await writeFile(config, [
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    'frontend api',
    `  bind 127.0.0.1:${port}`,
    '  default_backend taskforge',
    'backend taskforge',
    '  balance roundrobin',
    `  option httpchk GET ${checkPath}`,
    '  http-check expect status 200',
    `  default-server inter ${checkIntervalMs}ms`,
    ...Object.entries(servers).map(([name, serverPort]) => `  server ${name} 127.0.0.1:${serverPort} check`),
    'frontend stats',
    `  bind 127.0.0.1:${statsPort}`,
    '  stats enable',
    '  stats uri /stats',
    ''
  ].join('\n'))

  // -db: in the foreground, as a child of this test.
  const child = spawn(HAPROXY_PATH, ['-db', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8') })
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exited
    }
  })

  const status = async (server: string) => {
    const csv = await (await fetch(`http://127.0.0.1:${statsPort}/stats;csv`)).text()
    const [header = '', ...rows] = csv.trim().split('\n')
    const columns = header.replace(/^# /, '').split(',')
    const row = rows.map((line) => line.split(',')).find((cells) => cells[0] === 'taskforge' && cells[1] === server)
    return row?.[columns.indexOf('status')] ?? 'unknown'
  }
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}: ${stderr}`)
    return await status(Object.keys(servers)[0] ?? '').catch(() => undefined)
  }, 10_000, 'haproxy to start')
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    status,
    waitUntilUp: async (server, timeoutMs = 30_000) => {
      await eventually(async () => await status(server) === 'UP' || undefined, timeoutMs, `haproxy to see ${server} up`)
    }
  }
}
