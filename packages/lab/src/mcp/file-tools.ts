import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import { MCP_MAX_CONTENT_CHARS, MCP_MAX_FILE_BYTES, decodeContent, encodeContent } from './content.ts'
import { ok, sessionIdInput, type ToolDeps } from './tool-kit.ts'
import { argumentError, toolError } from './tool-error.ts'

/** Most entries list_files returns: a directory of a million files would not help an agent. */
export const MCP_MAX_LIST_ENTRIES = 1000

const pathInput = z.string().min(1).max(4096)
const MiB = MCP_MAX_FILE_BYTES / (1024 * 1024)

/** read_file, write_file and list_files. */
export function registerFileTools(server: McpServer, deps: ToolDeps): void {
  server.registerTool('read_file', {
    title: 'Read a file',
    description: 'Read a file in a session. Returns the content as text when it is UTF-8 (encoding "utf8"), '
      + `otherwise base64 (encoding "base64"). At most ${MiB} MiB: a larger file returns its first ${MiB} MiB with truncated: true `
      + '(use exec with wc, tail, grep or sed for the rest of a large file). A relative path starts at the user\'s home directory.',
    inputSchema: {
      sessionId: sessionIdInput,
      path: pathInput.describe('File path, absolute or relative to the home directory.'),
    },
    outputSchema: {
      path: z.string(),
      encoding: z.enum(['utf8', 'base64']),
      content: z.string(),
      bytes: z.number().int().describe('bytes of the file in content'),
      truncated: z.boolean().describe('the file is longer than what content holds'),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, async ({ sessionId, path }, { signal }) => {
    try {
      const s = await deps.lab.sessions.get(sessionId, { signal })
      const { bytes, truncated } = await readAtMost(await s.files.readStream(path, { signal }), MCP_MAX_FILE_BYTES)
      const e = encodeContent(bytes, truncated)
      return ok({ path, encoding: e.encoding, content: e.content, bytes: e.bytes, truncated })
    } catch (err) {
      return toolError(err, { sessionId, path })
    }
  })

  server.registerTool('write_file', {
    title: 'Write a file',
    description: 'Create or replace a file in a session, creating missing parent directories. The file appears whole or not at all. '
      + 'Send text with encoding "utf8" (the default) or any bytes as base64 with encoding "base64". '
      + `At most ${MiB} MiB per call. A relative path starts at the user's home directory.`,
    inputSchema: {
      sessionId: sessionIdInput,
      path: pathInput.describe('File path, absolute or relative to the home directory.'),
      content: z.string().max(MCP_MAX_CONTENT_CHARS).describe('The whole new content of the file.'),
      encoding: z.enum(['utf8', 'base64']).optional().describe('How content is encoded (default "utf8").'),
    },
    outputSchema: { path: z.string(), size: z.number().int().describe('bytes written') },
    annotations: { destructiveHint: true, idempotentHint: true, openWorldHint: false },
  }, async ({ sessionId, path, content, encoding }, { signal }) => {
    const decoded = decodeContent(content, encoding ?? 'utf8')
    if ('error' in decoded) return argumentError(decoded.error)
    try {
      const s = await deps.lab.sessions.get(sessionId, { signal })
      const written = await s.files.write(path, decoded.bytes, { signal })
      return ok({ path: written.path, size: written.size })
    } catch (err) {
      return toolError(err, { sessionId, path })
    }
  })

  server.registerTool('list_files', {
    title: 'List a directory',
    description: 'List a directory in a session: name, type (file, dir or symlink), size in bytes, mode (e.g. "0644") and mtime of each entry. '
      + `At most ${MCP_MAX_LIST_ENTRIES} entries (then truncated: true). The default path is the user's home directory.`,
    inputSchema: {
      sessionId: sessionIdInput,
      path: pathInput.optional().describe('Directory, absolute or relative to the home directory (default: the home directory).'),
    },
    outputSchema: {
      path: z.string(),
      entries: z.array(z.object({ name: z.string(), type: z.enum(['file', 'dir', 'symlink']), size: z.number(), mode: z.string(), mtime: z.string() })),
      truncated: z.boolean(),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, async ({ sessionId, path }, { signal }) => {
    const dir = path ?? '.'
    try {
      const s = await deps.lab.sessions.get(sessionId, { signal })
      const all = await s.files.list(dir, { signal })
      const entries = all.slice(0, MCP_MAX_LIST_ENTRIES).map((e) => ({ name: e.name, type: e.type, size: e.size, mode: e.mode, mtime: e.mtime }))
      return ok({ path: dir, entries, truncated: all.length > entries.length })
    } catch (err) {
      return toolError(err, { sessionId, path: dir })
    }
  })
}

/**
 * The first `max` bytes of a download, then cancelled: a 1 GiB file costs this process 4 MiB and
 * the gateway stops sending, rather than the whole file arriving to be cut here.
 */
async function readAtMost(stream: ReadableStream<Uint8Array>, max: number): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let kept = 0
  let truncated = false
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    const room = max - kept
    if (value.length > room) {
      chunks.push(value.subarray(0, room))
      kept = max
      truncated = true
      await reader.cancel()
      break
    }
    chunks.push(value)
    kept += value.length
  }
  return { bytes: new Uint8Array(Buffer.concat(chunks)), truncated }
}
