// Run in a child process by durability.test.ts: commits a pool's worth of sandboxes and a claim
// with its attach token, then kills itself with SIGKILL at once (no close, no checkpoint).
import { SqliteStore } from './sqlite-store.ts'

async function main(): Promise<void> {
  const [path, count] = process.argv.slice(2) as [string, string]
  const store = new SqliteStore(path)
  for (let i = 0; i < Number(count); i++) {
    const id = `sb-${i}`
    await store.insertSandbox({ id, pool: 'alpha', createdAt: i })
    await store.markSandboxWarm(id, { id, pool: 'alpha', driver: 'fake', createdAt: i, address: { kind: 'unix', path: '/x' }, meta: {} }, i)
  }
  await store.claimWarm('alpha', { id: 's-last', user: 'ada', pool: 'alpha', createdAt: 1, envNames: [], attachToken: { tokenHash: 'f'.repeat(64), expiresAt: 99 } }, 2)
  process.kill(process.pid, 'SIGKILL')
}

void main()
