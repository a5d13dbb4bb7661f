// Run in a child process by sqlite-store.test.ts: claims from its own SqliteStore on a shared
// file until the pool is empty, then prints the sandbox ids it got as JSON.
import { SqliteStore } from './sqlite-store.ts'

async function main(): Promise<void> {
  const [path, tag, startAt] = process.argv.slice(2) as [string, string, string]
  const store = new SqliteStore(path)
  // All workers start claiming at the same instant, so their transactions really interleave.
  await new Promise((r) => setTimeout(r, Number(startAt) - Date.now()))
  const got: string[] = []
  for (let i = 0; ; i++) {
    const c = await store.claimWarm('alpha', { id: `${tag}-${i}`, user: 'ada', pool: 'alpha', createdAt: 0, envNames: [] }, 0)
    if (!c) break
    got.push(c.sandbox.id)
  }
  await store.close()
  process.stdout.write(JSON.stringify(got))
}

void main()
