import { createHash } from 'node:crypto'
import { join, resolve } from 'node:path'

/**
 * `/run/infra-lab/<first 12 hex of sha256(dataDir)>`: one per data dir, and traversable by the
 * sandbox uid (bwrap resolves its bind sources as that uid), unlike a data dir under /root.
 */
export function defaultRuntimeDir(dataDir: string): string {
  const hash = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12)
  return join('/run/infra-lab', hash)
}

/**
 * Version of what a sandbox looks like on the host. 2: the agent's socket dir is a tmpfs the
 * gateway mounted and is reached with connectNoFollow. 3: a network sandbox has a network
 * namespace of its own (never the host's). A sandbox of an older version is never adopted: it is
 * recycled when the gateway starts.
 */
export const SANDBOX_LAYOUT_VERSION = 3

/** Where everything of one runtime dir lives (local and Docker sandboxes alike). Pure. */
export function runtimeLayout(root: string) {
  const sandboxDir = (id: string) => join(root, 'sandboxes', id)
  const slotDir = (id: string) => join(root, 'slots', id)
  return {
    root,
    /** Copy of the agent bundle and node-pty; ro-bound at /opt/infra-lab (local driver). */
    agentDir: join(root, 'agent'),
    passwd: join(root, 'etc/passwd'),
    group: join(root, 'etc/group'),
    /** resolv.conf, hosts and the egress CA of network sandboxes (egress-files.ts). */
    netEtcDir: join(root, 'etc/net'),
    /** A shared bind mount: workspace binds below it propagate into running sandboxes. */
    slotsDir: join(root, 'slots'),
    sandboxesDir: join(root, 'sandboxes'),
    slotDir,
    homeDir: (id: string) => join(slotDir(id), 'home'),
    sandboxDir,
    sockDir: (id: string) => join(sandboxDir(id), 'sock'),
    socketPath: (id: string) => join(sandboxDir(id), 'sock/agent.sock'),
    metaPath: (id: string) => join(sandboxDir(id), 'meta.json'),
    logPath: (id: string) => join(sandboxDir(id), 'agent.log'),
  }
}
export type RuntimeLayout = ReturnType<typeof runtimeLayout>
