import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import labPackage from '../../package.json' with { type: 'json' }
import { registerFileTools } from './file-tools.ts'
import { registerSessionTools } from './session-tools.ts'
import type { ToolDeps } from './tool-kit.ts'

const INSTRUCTIONS = `Isolated Linux shells ("sessions") on an Optima Infra Lab gateway.
Call create_session first (it returns in milliseconds from a warm pool), then exec, read_file,
write_file and list_files with its sessionId; call end_session when done. Commands run as the
session's unprivileged user in its home directory, which persists across that user's sessions.
Errors start with a code (e.g. session_ended, capacity_exhausted) and say what to do next.`

/** An MCP server with the six tools: one implementation for stdio (`infra-lab mcp`) and /mcp. */
export function createLabMcpServer(deps: ToolDeps): McpServer {
  const server = new McpServer({ name: 'infra-lab', title: 'Optima Infra Lab', version: labPackage.version }, { instructions: INSTRUCTIONS })
  registerSessionTools(server, deps)
  registerFileTools(server, deps)
  return server
}
