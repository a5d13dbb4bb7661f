// A throwaway PostgreSQL server for tests and benchmarks, from the host's Debian packages
// (`postgresql`, which `npm test` installs), in a temporary directory, listening only on a unix
// socket there. initdb and the server refuse to run as root, so as root they run as the
// `postgres` user (runuser).
import { execFile, execFileSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const PORT = 5432

/** The directory of initdb, pg_ctl and psql: `pg_config --bindir`, else the newest /usr/lib/postgresql/<v>/bin. */
export function postgresBinDir(): string | undefined {
  const has = (dir: string) => ['initdb', 'pg_ctl', 'psql'].every((b) => existsSync(join(dir, b)))
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    if (has(dir)) return dir
  } catch {
    // no pg_config: look where Debian installs the server
  }
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
  return versions.map((v) => join(root, v, 'bin')).find(has)
}

const isRoot = process.getuid?.() === 0

function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim())
    return { uid: id('-u'), gid: id('-g') }
  } catch {
    return undefined
  }
}

/** Why a throwaway PostgreSQL server cannot run here (undefined: it can). */
export function postgresSkipReason(): string | undefined {
  if (!postgresBinDir()) return 'PostgreSQL is not installed (apt-get install postgresql; `npm test` as root installs it)'
  if (isRoot && !postgresUser()) return 'running as root and there is no `postgres` user to run the server as'
  return undefined
}

export interface PgServer {
  /** The socket's directory (also the data directory's parent). */
  readonly dir: string
  /** A URL for `database` (and, with `schema`, that search_path). */
  url(database: string, schema?: string): string
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>
  /** Runs SQL with the real psql client (unaligned, tuples only, `|` between columns); its output. */
  psql(database: string, sql: string): Promise<string>
  /** pg_ctl stop -m fast: clients are disconnected, the socket goes away. */
  stop(): Promise<void>
  start(): Promise<void>
  /** Stops the server (if running) and removes its directory. */
  remove(): Promise<void>
}

/** initdb and starts a server in a new temporary directory. */
export async function startPostgres(): Promise<PgServer> {
  const bin = postgresBinDir()
  if (!bin) throw new Error('PostgreSQL is not installed')
  const dir = mkdtempSync(join(tmpdir(), 'lab-pg-'))
  const data = join(dir, 'data')
  const owner = isRoot ? postgresUser() : undefined
  if (owner) {
    chownSync(dir, owner.uid, owner.gid)
    chmodSync(dir, 0o755)
  }
  const asServer = (cmd: string, args: string[]) =>
    owner ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]) : run(join(bin, cmd), args)
  // fsync off and no sync after initdb: a throwaway cluster, never a durability test.
  await asServer('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'])
  const opts = `-k ${dir} -p ${PORT} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`
  let running = false
  const server: PgServer = {
    dir,
    url: (database, schema) => `postgres://postgres@/${database}?host=${encodeURIComponent(dir)}&port=${PORT}${schema ? `&options=${encodeURIComponent(`-c search_path=${schema}`)}` : ''}`,
    async createDatabase(name) {
      await server.psql('postgres', `CREATE DATABASE ${name}`)
      return server.url(name)
    },
    async psql(database, sql) {
      const { stdout } = await run(join(bin, 'psql'), ['-h', dir, '-p', String(PORT), '-U', 'postgres', '-d', database, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql])
      return stdout
    },
    async stop() {
      await asServer('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop'])
      running = false
    },
    async start() {
      await asServer('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start'])
      running = true
    },
    async remove() {
      if (running) await server.stop().catch(() => undefined)
      rmSync(dir, { recursive: true, force: true })
    },
  }
  try {
    await server.start()
  } catch (err) {
    await server.remove()
    throw err
  }
  return server
}
