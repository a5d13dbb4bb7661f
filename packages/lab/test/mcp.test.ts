// The MCP server as an agent meets it, with the MCP SDK's own client: `infra-lab mcp` started as a
// process over stdio (also exactly as the README's config snippet starts it), and the gateway's
// /mcp over Streamable HTTP. Both against a real gateway process on 127.0.0.1 with the local
// driver, every tool called on a real sandbox.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { localDriverSkipReason } from '../src/drivers/local/test-support.ts'
import { waitFor } from '../src/gateway/test-gateway.test-util.ts'
import { findRepoRoot } from '../src/paths.ts'
import { CLI, KEY, runCli, runGateway, type RunningGateway } from './gateway-process.test-util.ts'
import { call, errorOf, expectToolsListed, exerciseEveryTool, okOf } from './mcp-tools.test-util.ts'

const skip = localDriverSkipReason()
const ROOT = findRepoRoot()

/** The README's MCP client configuration: the one JSON block under "## MCP". */
function readmeMcpConfig(): { command: string; args: string[]; env: Record<string, string> } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('\n## MCP'))
  const block = /```json\n([\s\S]*?)\n```/.exec(section)
  if (!block) throw new Error('README.md has no ```json block under ## MCP')
  const servers = (JSON.parse(block[1]!) as { mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }> }).mcpServers
  expect(Object.keys(servers)).toEqual(['infra-lab'])
  return servers['infra-lab']!
}

describe.skipIf(skip !== undefined)(`MCP with the local driver${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'infra-lab-mcp-'))
  const config = { driver: 'local', pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 }, maxSize: 4 }] }
  let gw: RunningGateway
  const clients: Client[] = []

  async function connect(transport: StdioClientTransport | StreamableHTTPClientTransport): Promise<Client> {
    const client = new Client({ name: 'infra-lab-mcp-test', version: '1.0.0' })
    await client.connect(transport)
    clients.push(client)
    return client
  }
  const stdio = (args: string[] = []) => new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', '--url', gw.url, '--key', KEY, ...args], stderr: 'pipe' })
  const http = (key = KEY) => new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${key}` } } })

  beforeAll(async () => {
    gw = await runGateway(dataDir, config)
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()))
    gw?.child.kill('SIGKILL')
    await runCli(['gateway', '--config', join(dataDir, 'config.json'), '--data-dir', dataDir, '--teardown'])
    rmSync(dataDir, { recursive: true, force: true })
  })

  describe('over stdio: infra-lab mcp', () => {
    it('lists the six tools with their schemas', async () => {
      await expectToolsListed(await connect(stdio()))
    })

    it('runs every tool on a real sandbox, and answers failures with tool errors', async () => {
      await exerciseEveryTool(await connect(stdio()), 'mcp-stdio')
    })

    it('creates sessions for --user when the agent names no user', async () => {
      const client = await connect(stdio(['--user', 'desk-user']))
      const s = okOf<{ sessionId: string; user: string }>(await call(client, 'create_session', {}))
      expect(s.user).toBe('desk-user')
      expect(okOf<{ stdout: string }>(await call(client, 'exec', { sessionId: s.sessionId, cmd: 'pwd' })).stdout).toMatch(/^\/\S+\n$/)
      okOf(await call(client, 'end_session', { sessionId: s.sessionId }))
    })

    it('a wrong key: the server starts, and each tool says the key was refused', async () => {
      const client = await connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', '--url', gw.url, '--key', 'wrong-key'], stderr: 'pipe' }))
      expect(errorOf(await call(client, 'create_session', { user: 'x' }))).toMatch(/^unauthorized: .*INFRA_LAB_API_KEY/)
    })

    it('a gateway that is not there: the tool says so and what to check', async () => {
      const client = await connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', '--url', 'http://127.0.0.1:9', '--key', KEY], stderr: 'pipe' }))
      expect(errorOf(await call(client, 'create_session', { user: 'x' }))).toMatch(/^unreachable: .*INFRA_LAB_URL/)
    })
  })

  describe('over Streamable HTTP: the gateway\'s /mcp', () => {
    it('lists the six tools with their schemas', async () => {
      await expectToolsListed(await connect(http()))
    })

    it('runs every tool on a real sandbox, and answers failures with tool errors', async () => {
      await exerciseEveryTool(await connect(http()), 'mcp-http')
    })

    it('bounds what reaches the agent: a 20 MiB file reads as its first 4 MiB, 5 MB of output as its head and tail', async () => {
      const client = await connect(http())
      const { sessionId } = okOf<{ sessionId: string }>(await call(client, 'create_session', { user: 'mcp-bounds' }))
      okOf(await call(client, 'exec', { sessionId, cmd: 'head -c 20M /dev/zero | tr "\\0" a > big.txt && yes € | head -c 6000000 | tr -d "\\n" > euro.txt' }))
      expect(okOf(await call(client, 'read_file', { sessionId, path: 'big.txt' }))).toEqual({ path: 'big.txt', encoding: 'utf8', content: 'a'.repeat(4 * 1024 * 1024), bytes: 4 * 1024 * 1024, truncated: true })
      // 4 MiB is not a multiple of the 3 bytes of "€": the cut character is left out, the rest stays text
      const euro = okOf<{ encoding: string; content: string; bytes: number; truncated: boolean }>(await call(client, 'read_file', { sessionId, path: 'euro.txt' }))
      expect(euro).toMatchObject({ encoding: 'utf8', bytes: 4 * 1024 * 1024 - 1, truncated: true })
      expect(euro.content).toBe('€'.repeat((4 * 1024 * 1024 - 1) / 3))
      const loud = okOf<{ exitCode: number; stdout: string; truncated: boolean }>(await call(client, 'exec', { sessionId, cmd: 'echo first; head -c 5000000 /dev/zero | tr "\\0" b; echo; echo last' }))
      expect(loud.exitCode).toBe(0)
      expect(loud.truncated).toBe(true)
      expect(loud.stdout.startsWith('first\nbbb')).toBe(true)
      expect(loud.stdout.endsWith('bbb\nlast\n')).toBe(true)
      expect(loud.stdout).toMatch(/\[\.\.\. 4900\d{3} characters omitted/)
      expect(loud.stdout.length).toBeLessThan(100_200)
      okOf(await call(client, 'end_session', { sessionId }))
    })

    it('a client that hangs up during an exec ends the command, as any caller going away does', async () => {
      const client = await connect(http())
      const other = await connect(http())
      const { sessionId } = okOf<{ sessionId: string }>(await call(other, 'create_session', { user: 'mcp-hangup' }))
      const running = call(client, 'exec', { sessionId, cmd: 'echo $$ > hangup.pid; sleep 30; echo finished > hangup.done', timeoutS: 120 }).catch((err: unknown) => err)
      await waitFor(async () => !(await call(other, 'read_file', { sessionId, path: 'hangup.pid' })).isError, 20_000, 'the command to start')
      await client.close() // the transport aborts its open requests: the HTTP connection goes away
      await running
      const alive = async () => okOf<{ stdout: string }>(await call(other, 'exec', { sessionId, cmd: 'kill -0 "$(cat hangup.pid)" 2>/dev/null && echo alive || echo gone' })).stdout.trim()
      await waitFor(async () => (await alive()) === 'gone', 15_000, 'the hung-up command to be ended')
      expect(errorOf(await call(other, 'read_file', { sessionId, path: 'hangup.done' }))).toMatch(/^file_not_found/)
      okOf(await call(other, 'end_session', { sessionId }))
    }, 60_000)

    it('refuses a wrong key with 401 before any tool runs', async () => {
      const client = new Client({ name: 'intruder', version: '1.0.0' })
      await expect(client.connect(http('wrong-key'))).rejects.toMatchObject({ code: 401 })
    })
  })

  it('the README\'s MCP config starts a server that answers (with this gateway\'s URL and key)', async () => {
    const snippet = readmeMcpConfig()
    // The placeholders a reader replaces: where the repository is, and the values of the two variables.
    const args = snippet.args.map((a) => a.replace('/path/to/optima-infra-lab', ROOT))
    expect(Object.keys(snippet.env).sort()).toEqual(['INFRA_LAB_API_KEY', 'INFRA_LAB_URL'])
    expect(snippet.env.INFRA_LAB_URL).toBe('http://127.0.0.1:8080') // the gateway's default address
    const client = await connect(new StdioClientTransport({ command: snippet.command, args, env: { INFRA_LAB_URL: gw.url, INFRA_LAB_API_KEY: KEY }, stderr: 'pipe' }))
    await expectToolsListed(client)
    const s = okOf<{ sessionId: string; user: string }>(await call(client, 'create_session', {}))
    expect(s.user).toBe(args[args.indexOf('--user') + 1])
    okOf(await call(client, 'end_session', { sessionId: s.sessionId }))
  })
})
