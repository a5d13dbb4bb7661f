import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import type { InfraLab } from '@infra-lab/sdk'
import { z } from 'zod'

// What every tool file shares; the tool files and the server import this, never each other.

/** What every tool gets: the gateway's client, and create_session's user when the agent names none. */
export interface ToolDeps {
  /** Over the network (`infra-lab mcp`), or answered in-process by the gateway (/mcp). */
  readonly lab: InfraLab
  /** `infra-lab mcp --user`, $USER. */
  readonly defaultUser?: string
}

/** The id create_session returns; the gateway checks its form too. */
export const sessionIdInput = z.string().min(1).max(128).describe('The sessionId that create_session returned (ses-...).')

/** A tool's result: the structured content, and the same as JSON text for clients that read only text. */
export function ok<T extends Record<string, unknown>>(structured: T): CallToolResult & { structuredContent: T } {
  return { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured }
}
