import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { InfraLab } from '@infra-lab/sdk'
import labPackage from '../../package.json' with { type: 'json' }
import { registerFileTools } from './file-tools.ts'
import { registerSessionTools } from './session-tools.ts'

/** Where the tools send their calls: the gateway, over the network or in-process. */
export interface LabTarget {
  readonly url: string
  readonly apiKey: string
  /** The gateway's /mcp passes one that answers in-process; otherwise the global fetch. */
  readonly fetch?: typeof fetch
}

export interface LabMcpOptions extends LabTarget {
  /** create_session's user when the agent names none (`infra-lab mcp --user`, $USER). */
  readonly defaultUser?: string
}

/** What every tool gets: the client of the gateway, and create_session's default user. */
export interface ToolDeps {
  readonly lab: InfraLab
  readonly defaultUser?: string
}

const INSTRUCTIONS = `Isolated Linux shells ("sessions") on an Optima Infra Lab gateway.
Call create_session first (it returns in milliseconds from a warm pool), then exec, read_file,
write_file and list_files with its sessionId; call end_session when done. Commands run as the
session's unprivileged user in its home directory, which persists across that user's sessions.
Errors start with a code (e.g. session_ended, capacity_exhausted) and say what to do next.`

/** An MCP server with the six tools: one implementation for stdio (`infra-lab mcp`) and /mcp. */
export function createLabMcpServer(opts: LabMcpOptions): McpServer {
  const server = new McpServer({ name: 'infra-lab', title: 'Optima Infra Lab', version: labPackage.version }, { instructions: INSTRUCTIONS })
  const deps: ToolDeps = {
    lab: new InfraLab({ url: opts.url, apiKey: opts.apiKey, ...(opts.fetch ? { fetch: opts.fetch } : {}) }),
    ...(opts.defaultUser ? { defaultUser: opts.defaultUser } : {}),
  }
  registerSessionTools(server, deps)
  registerFileTools(server, deps)
  return server
}
