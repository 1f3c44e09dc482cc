/** Process helpers: pid files, /proc (Linux), signals, and a free TCP port. */
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { isErrno } from './errors.js'

export async function findFreePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

export async function readPid (file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined)
  const pid = Number.parseInt(text?.split('\n')[0] ?? '', 10)
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

/** Command name, state and parent pid from /proc (Linux); undefined where there is none. */
export async function processInfo (pid: number): Promise<{ command: string; state: string; parentPid: number } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  // "pid (comm) state ppid ...": comm may itself contain spaces and parentheses.
  const close = text.lastIndexOf(')')
  const command = text.slice(text.indexOf('(') + 1, close)
  const [state = '', parentPid = ''] = text.slice(close + 2).split(' ')
  return { command, state, parentPid: Number(parentPid) }
}

/** Alive and not a zombie: a dead orphan stays one until its new parent reaps it, which some inits never do. */
export async function isRunning (pid: number): Promise<boolean> {
  return isAlive(pid) && (await processInfo(pid))?.state !== 'Z'
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return isErrno(error, 'EPERM') // exists, but belongs to another user
  }
}

export function signal (pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name)
  } catch {
    // already gone
  }
}

export async function waitForExit (pid: number): Promise<void> {
  while (isAlive(pid)) await sleep(50)
}
