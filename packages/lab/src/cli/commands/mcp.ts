import type { InfraLab } from '@infra-lab/sdk'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { createLabMcpServer } from '../../mcp/server.ts'
import type { CliIo, ExitCode } from '../../io.ts'
import { UsageError } from '../../io.ts'
import { labFromFlags, type ClientFlags } from '../client-options.ts'

export interface McpFlags extends ClientFlags {
  readonly user?: string
}

export interface StdioIo extends CliIo {
  readonly stdin: NodeJS.ReadableStream
}

/**
 * `infra-lab mcp`: the Model Context Protocol over stdin/stdout, for desktop agents that start
 * their tools as processes. stdout carries only the protocol; anything else goes to stderr.
 * Serves until stdin closes (the agent stops it) or the process is signalled.
 */
export async function mcpCommand(flags: McpFlags, io: StdioIo, signal: AbortSignal): Promise<ExitCode> {
  let lab: InfraLab
  try {
    lab = labFromFlags(flags, io)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    io.stderr.write(`infra-lab mcp: ${err.message}\n`)
    return 2
  }
  const defaultUser = flags.user ?? io.env.USER
  const server = createLabMcpServer({ lab, ...(defaultUser ? { defaultUser } : {}) })
  const transport = new StdioServerTransport(io.stdin as NodeJS.ReadStream, io.stdout as NodeJS.WriteStream)
  const closed = new Promise<void>((resolve) => {
    transport.onclose = resolve
    io.stdin.once('end', resolve)
    signal.addEventListener('abort', () => resolve(), { once: true })
  })
  // (a line that is not JSON-RPC fails zod with a long dump: one line says enough)
  transport.onerror = (err) => io.stderr.write(`infra-lab mcp: ${err.name === 'ZodError' ? 'ignored a line on stdin that is not a JSON-RPC message' : err.message}\n`)
  await server.connect(transport)
  io.stderr.write(`infra-lab mcp: serving the gateway at ${lab.url} on stdio\n`)
  await closed
  await server.close()
  return 0
}
