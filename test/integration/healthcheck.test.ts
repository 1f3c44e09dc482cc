import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { PROJECT_ROOT } from '../helpers/test-server.js'

/**
 * The image's HEALTHCHECK command (scripts/healthcheck.ts), run as the image
 * runs it, with HOST and PORT in its environment, against a real server.
 */

async function healthcheck (environment: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'scripts', 'healthcheck.ts')], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH, ...environment },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8') })
  const [code] = await once(child, 'exit') as [number | null]
  return { code, stderr }
}

/** The app on its own database, listening on `host`; resolves with its port. */
async function listeningApp (t: Parameters<typeof buildTestApp>[0], host: string): Promise<number> {
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' })
  await app.listen({ host, port: 0 })
  const address = app.server.address()
  if (typeof address !== 'object' || address === null) throw new Error('not listening')
  return address.port
}

async function canListenOn (host: string): Promise<boolean> {
  const server = createServer()
  try {
    await new Promise<void>((resolve, reject) => { server.once('error', reject).listen(0, host, resolve) })
    return true
  } catch {
    return false
  } finally {
    if (server.listening) server.close()
  }
}

t.test('a server on a given HOST (127.0.0.2, which 127.0.0.1 does not reach) is asked there', async (t) => {
  const port = await listeningApp(t, '127.0.0.2')
  const result = await healthcheck({ HOST: '127.0.0.2', PORT: String(port) })
  t.equal(result.code, 0, result.stderr)
})

t.test('a server on the wildcard HOST (0.0.0.0, the default) is asked on 127.0.0.1', async (t) => {
  const port = await listeningApp(t, '0.0.0.0')
  t.equal((await healthcheck({ HOST: '0.0.0.0', PORT: String(port) })).code, 0)
})

const ipv6 = await canListenOn('::1')
t.test('an IPv6 HOST is asked in brackets', { skip: !ipv6 && 'no IPv6 loopback here' }, async (t) => {
  const port = await listeningApp(t, '::1')
  const result = await healthcheck({ HOST: '::1', PORT: String(port) })
  t.equal(result.code, 0, result.stderr)
})

t.test('no server: exit 1, saying what it asked and why it failed', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
  const result = await healthcheck({ HOST: '127.0.0.1', PORT: String(port) })
  t.equal(result.code, 1)
  t.match(result.stderr, `GET http://127.0.0.1:${port}/health/live: `)
  t.match(result.stderr, /ECONNREFUSED/)
})
