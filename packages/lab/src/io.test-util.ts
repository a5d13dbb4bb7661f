import { PassThrough } from 'node:stream'

/** A CliIo whose stdout and stderr are collected as text, for tests of commands. */
export function captureIo(cwd: string) {
  const out = new PassThrough(), err = new PassThrough()
  let stdout = '', stderr = ''
  out.on('data', (d) => { stdout += String(d) })
  err.on('data', (d) => { stderr += String(d) })
  return { io: { cwd, env: {}, stdout: out, stderr: err }, get stdout() { return stdout }, get stderr() { return stderr } }
}
