import { rm } from 'node:fs/promises'
import { createServer, connect, type Server, type Socket } from 'node:net'

/**
 * A unix-socket proxy to the real daemon that can be shut: to the driver, exactly a daemon that
 * stopped answering (ECONNREFUSED/ENOENT), without stopping the daemon other test files use.
 */
export class DaemonSwitch {
  private server: Server | undefined
  private readonly conns = new Set<Socket>()
  constructor(readonly path: string, private readonly target = '/var/run/docker.sock') {}
  async up(): Promise<void> {
    await rm(this.path, { force: true })
    const server = createServer((c) => {
      const up = connect(this.target)
      for (const s of [c, up]) {
        this.conns.add(s)
        s.on('close', () => this.conns.delete(s))
        s.on('error', () => s.destroy())
      }
      c.pipe(up).pipe(c)
    })
    await new Promise<void>((resolve) => server.listen(this.path, resolve))
    this.server = server
  }
  async down(): Promise<void> {
    const s = this.server
    this.server = undefined
    for (const c of this.conns) c.destroy()
    if (s) await new Promise((resolve) => s.close(resolve))
    await rm(this.path, { force: true })
  }
}
