import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { InfraLabError } from '@infra-lab/sdk'

/** What the failed call was about, so the message can name it. */
export interface ToolContext {
  readonly sessionId?: string
  readonly path?: string
}

/**
 * A failed tool call as an MCP tool error (`isError`), which the agent reads and can act on, rather
 * than a protocol error, which clients surface as a crash. The text starts with the catalogue code
 * (docs/api.md) and says what to do next: a new session, a retry after N s, a fix of an argument.
 */
export function toolError(err: unknown, ctx: ToolContext = {}): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: describe(err, ctx) }] }
}

/** A tool error for a bad argument the tool itself found (the input schema catches the rest). */
export function argumentError(message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: `validation_failed: ${message}` }] }
}

function describe(err: unknown, ctx: ToolContext): string {
  if (!(err instanceof InfraLabError)) return `internal: ${err instanceof Error ? err.message : String(err)}`
  const session = ctx.sessionId ? `session ${ctx.sessionId}` : 'the session'
  const path = ctx.path !== undefined ? `"${ctx.path}"` : 'the path'
  const retry = `Retry after ${err.retryAfterS ?? 1} s.`
  const said = sentence(err.message)
  const text = ((): string => {
    // (a string: the catalogue grows, and a code this build does not know still gets its message)
    switch (err.code as string) {
      case 'session_not_found':
        return `There is no ${session}. Use the sessionId that create_session returned, or call create_session for a new session.`
      case 'session_ended':
        return `${cap(session)} has ended; nothing more runs in it. Call create_session for a new session: the files in the user's home directory carry over to the user's next session.`
      case 'capacity_exhausted':
      case 'claim_timeout':
      case 'pool_unavailable':
      case 'session_unavailable':
        return `${said} ${retry}`
      case 'pool_not_found':
        return `${said} Omit pool to use the default pool.`
      case 'validation_failed':
        if (err.details?.some((d) => d.field === 'id')) return `"${ctx.sessionId}" is not a session id. Use the sessionId that create_session returned (ses-...).`
        return err.details?.length ? `Invalid ${err.details.map((d) => `${d.field}: ${d.message}`).join('; ')}.` : said
      case 'file_not_found':
        return `Nothing at ${path} in ${session}. A relative path starts at the user's home directory; call list_files to see what is there.`
      case 'permission_denied':
        return `The session's user may not access ${path} (${err.message}). Work in the home directory or /tmp.`
      case 'insufficient_storage':
        return `No space left to write ${path}: the user's workspace is at its quota. Remove files (exec "rm ...") or write less.`
      case 'path_conflict':
        return `${path} is of the wrong kind here (${err.message}). read_file and write_file take a file, list_files a directory.`
      case 'body_too_large':
      case 'upload_too_large':
        return `${said} Send less at once (for large files use \`infra-lab cp\` or the SDK).`
      case 'unauthorized':
        return 'The gateway refused the API key this MCP server uses. Retrying does not help: fix the key (INFRA_LAB_API_KEY or --key of `infra-lab mcp`, or the Authorization header sent to /mcp).'
      case 'unreachable':
        return `${said} Check that the gateway is running and that INFRA_LAB_URL (or --url) points at it; then retry.`
      default:
        return err.retryAfterS !== undefined ? `${said} ${retry}` : said
    }
  })()
  return `${err.code}: ${text}`
}

const cap = (s: string) => `${s.charAt(0).toUpperCase()}${s.slice(1)}`
/** The gateway's messages are clauses ("no pool named x"): made a sentence to put others after. */
const sentence = (s: string) => cap(/[.!?]$/.test(s) ? s : `${s}.`)
