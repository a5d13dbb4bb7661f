/**
 * The files a network sandbox sees in place of the host's: a resolver pointing at the egress
 * proxy, a hosts file that knows only localhost, and the gateway's CA, alone and inside the
 * system bundle. Written once per driver instance and bound read-only into every network
 * sandbox (bwrap binds, Docker binds); generic, nothing of a session in them.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SANDBOX_CA_BUNDLE, SANDBOX_EGRESS_CA } from '../../spec/network-policy.ts'

/** The host's CA bundle (Debian's path), which the sandbox's bundle extends. */
export const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'

/** Host path -> path inside the sandbox, each bound read-only. */
export type NetFileBinds = readonly (readonly [host: string, sandbox: string])[]

/** Writes the files into `dir` (replacing them atomically; running sandboxes keep the ones they have). */
export async function writeSandboxNetFiles(dir: string, proxyIp: string, caCertPem: string | undefined): Promise<NetFileBinds> {
  await mkdir(dir, { recursive: true, mode: 0o755 })
  await chmod(dir, 0o755)
  const binds: [string, string][] = []
  const put = async (name: string, text: string, target: string) => {
    const path = join(dir, name)
    await writeFile(`${path}.tmp-${process.pid}`, text, { mode: 0o644 })
    await rename(`${path}.tmp-${process.pid}`, path)
    binds.push([path, target])
  }
  // The proxy answers DNS for the session's policy; nothing else is a resolver.
  await put('resolv.conf', `nameserver ${proxyIp}\noptions timeout:2 attempts:2\n`, '/etc/resolv.conf')
  await put('hosts', '127.0.0.1\tlocalhost sandbox\n', '/etc/hosts')
  if (caCertPem !== undefined) {
    const pem = caCertPem.endsWith('\n') ? caCertPem : `${caCertPem}\n`
    const system = await readFile(HOST_CA_BUNDLE, 'utf8').catch(() => '')
    await put('egress-ca.pem', pem, SANDBOX_EGRESS_CA)
    await put('ca-certificates.crt', `${system}${system === '' || system.endsWith('\n') ? '' : '\n'}${pem}`, SANDBOX_CA_BUNDLE)
  }
  return binds
}
