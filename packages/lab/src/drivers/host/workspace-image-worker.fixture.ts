// Run in a child process by workspace-image.test.ts: one gateway's first use of users' workspace
// images (comma-separated), all at a given instant, so that two processes race for each. Prints
// each user's workspace directory, or the error, as JSON.
import { pino } from 'pino'
import { ensureImageWorkspace } from './workspace-image.ts'

async function main(): Promise<void> {
  const [ws, users, uid, quotaBytes, startAt] = process.argv.slice(2) as [string, string, string, string, string]
  const logger = pino({ level: 'silent' })
  await new Promise((r) => setTimeout(r, Number(startAt) - Date.now()))
  const results = await Promise.all(users.split(',').map((user) =>
    ensureImageWorkspace(ws, user, { uid: Number(uid), quotaBytes: Number(quotaBytes), logger }).then(
      (dir) => ({ user, dir }),
      (err: unknown) => ({ user, error: err instanceof Error ? err.message : String(err) }),
    )))
  process.stdout.write(JSON.stringify(results))
}

void main()
