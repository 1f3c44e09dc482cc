import net from 'node:net'
import { SMTPServer } from 'smtp-server'
import type { Test } from 'tap'
import { findFreePort } from '../../db/embedded/processes.js'

/** A TCP port nothing listens on (for a moment): an SMTP or Redis server that is down. */
export const freePort = findFreePort

export interface ReceivedMail {
  from: string
  to: string[]
  raw: string
}

/** A real SMTP server on 127.0.0.1 that keeps what it receives; stopped when the test ends. */
export async function startSmtpServer (t: Test, port = 0): Promise<{ port: number; received: ReceivedMail[]; stop: () => Promise<void> }> {
  const received: ReceivedMail[] = []
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData (stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((recipient) => recipient.address),
          raw: Buffer.concat(chunks).toString('utf8')
        })
        callback()
      })
    }
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const address = server.server.address() as net.AddressInfo
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  }
  t.teardown(stop)
  return { port: address.port, received, stop }
}

/** A server that accepts connections and never says a word: an SMTP or PostgreSQL server that hangs. */
export async function startSilentServer (t: Test): Promise<number> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => { sockets.add(socket) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return (server.address() as net.AddressInfo).port
}
