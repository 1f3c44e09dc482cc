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
  /** Accepts and forwards again, on the same port. */
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
  const createProxyServer = () => net.createServer((client) => {
    const upstream = net.connect(target.port, target.host)
    track(client)
    track(upstream)
    client.pipe(upstream).pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  const createHangUpServer = () => net.createServer((client) => {
    track(client)
    client.once('data', () => client.end())
  })
  let server = createProxyServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo

  const cut = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => { resolve() })
      for (const socket of sockets) socket.destroy()
    })
  }
  const listenAgain = async (next: net.Server) => {
    if (server.listening) await cut()
    server = next
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  }
  const hangUp = () => listenAgain(createHangUpServer())
  const restore = () => listenAgain(createProxyServer())
  t.teardown(async () => {
    if (server.listening) await cut()
  })
  return { port, cut, hangUp, restore }
}
