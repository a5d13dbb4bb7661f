// Test-only: a client in a network namespace the test made, run as `ip netns exec <ns> node`.
import { spawn } from 'node:child_process'

export interface TcpTry {
  readonly host: string
  readonly port: number
  /** Sent, then the connection is half-closed; the server answers and closes. */
  readonly label: string
}

/** Connects from inside `netns` to each target in turn; answers label -> what the server said, or the error code. */
export function tcpFromNamespace(netns: string, targets: readonly TcpTry[]): Promise<Record<string, string>> {
  const script = `
    const net = require('node:net')
    const out = {}
    ;(async () => {
      for (const t of ${JSON.stringify(targets)}) {
        out[t.label] = await new Promise((resolve) => {
          let reply = ''
          const s = net.connect({ host: t.host, port: t.port }, () => s.end(t.label))
          const timer = setTimeout(() => { s.destroy(); resolve('timeout') }, 5000)
          s.on('data', (d) => (reply += d))
          s.on('error', (e) => { clearTimeout(timer); resolve('error:' + e.code) })
          s.on('close', () => { clearTimeout(timer); resolve(reply) })
        })
      }
      console.log(JSON.stringify(out))
    })()`
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')))
    p.on('error', reject)
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Record<string, string>) : reject(new Error(`client in ${netns} exited with ${code}: ${out}`))))
  })
}
