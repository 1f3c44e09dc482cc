import net from 'node:net'
import type { Test } from 'tap'

export interface TcpProxy {
  port: number
  /** Drops every connection and refuses new ones, as a dead database host would. */
  cut: () => Promise<void>
  /**
   * Drops every connection, then accepts new ones but closes each as soon as
   * the client has spoken, without a word: what a proxy or pooler in front of
   * a server that is down may do. postgres.js sees no error, only a closed socket.
   */
  hangUp: () => Promise<void>
  /**
   * Drops every connection, then accepts new ones but passes nothing on until
   * restore(), which forwards them: a server slow to answer that answers in the end.
   */
  hold: () => Promise<void>
  /** Accepts and forwards again, on the same port (connections held meanwhile included). */
  restore: () => Promise<void>
}

/** A TCP proxy on 127.0.0.1 in front of target, that a test can cut and restore. */
export async function startTcpProxy (t: Test, target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>()
  const track = (socket: net.Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
  }
  let mode: 'forward' | 'hang-up' | 'hold' = 'forward'
  let held: net.Socket[] = []
  const forward = (client: net.Socket) => {
    const upstream = net.connect(target.port, target.host)
    track(upstream)
    client.pipe(upstream).pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  }
  const createServer = () => net.createServer((client) => {
    track(client)
    if (mode === 'forward') forward(client)
    else if (mode === 'hang-up') client.once('data', () => client.end())
    else {
      client.pause()
      held.push(client)
    }
  })
  let server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo

  const dropAll = () => {
    for (const socket of sockets) socket.destroy()
    held = []
  }
  const listen = async () => {
    if (server.listening) return
    server = createServer()
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  }
  const cut = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => { resolve() })
      dropAll()
    })
  }
  const switchTo = async (next: 'hang-up' | 'hold') => {
    dropAll()
    mode = next
    await listen()
  }
  const restore = async () => {
    if (mode === 'hang-up') dropAll()
    mode = 'forward'
    for (const client of held.splice(0)) if (!client.destroyed) forward(client)
    await listen()
  }
  t.teardown(async () => {
    if (server.listening) await cut()
  })
  return { port, cut, hangUp: () => switchTo('hang-up'), hold: () => switchTo('hold'), restore }
}
