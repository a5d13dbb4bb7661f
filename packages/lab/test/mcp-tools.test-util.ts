// What every MCP transport must show an agent: the same six tools with their schemas, each one
// working against a real session, and failures as tool errors (isError) that say what to do.
import { randomBytes } from 'node:crypto'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { expect } from 'vitest'

export const TOOL_NAMES = ['create_session', 'end_session', 'exec', 'list_files', 'read_file', 'write_file']

export async function call(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult
}

export function textOf(r: CallToolResult): string {
  return r.content.map((c) => (c.type === 'text' ? c.text : '')).join('')
}

/** The structured result of a call that must have succeeded. */
export function okOf<T = Record<string, unknown>>(r: CallToolResult): T {
  expect(r.isError, textOf(r)).toBeFalsy()
  expect(JSON.parse(textOf(r))).toEqual(r.structuredContent)
  return r.structuredContent as T
}

/** The message of a call that must have failed as a tool error. */
export function errorOf(r: CallToolResult): string {
  expect(r.isError, JSON.stringify(r)).toBe(true)
  return textOf(r)
}

interface ListedTool { name: string; description?: string; inputSchema: { type: string; properties?: Record<string, { type?: unknown; maximum?: number }>; required?: string[] }; outputSchema?: object }

export async function expectToolsListed(client: Client): Promise<void> {
  const { tools } = (await client.listTools()) as { tools: ListedTool[] }
  expect(tools.map((t) => t.name).sort()).toEqual(TOOL_NAMES)
  for (const t of tools) {
    expect(t.description?.length, t.name).toBeGreaterThan(80)
    expect(t.inputSchema.type).toBe('object')
    expect(t.outputSchema, t.name).toMatchObject({ type: 'object' })
  }
  const byName = new Map(tools.map((t) => [t.name, t]))
  expect(byName.get('exec')!.inputSchema.required?.sort()).toEqual(['cmd', 'sessionId'])
  expect(byName.get('exec')!.inputSchema.properties!.timeoutS!.maximum).toBe(3600)
  expect(byName.get('write_file')!.inputSchema.required?.sort()).toEqual(['content', 'path', 'sessionId'])
  expect(byName.get('read_file')!.inputSchema.required?.sort()).toEqual(['path', 'sessionId'])
  expect(byName.get('list_files')!.inputSchema.required).toEqual(['sessionId'])
  expect(byName.get('end_session')!.inputSchema.required).toEqual(['sessionId'])
}

/** Calls every tool on one new session of `user`, and the errors an agent meets most. */
export async function exerciseEveryTool(client: Client, user: string): Promise<void> {
  const created = okOf<{ sessionId: string; user: string; state: string }>(await call(client, 'create_session', { user, env: { GREETING: 'hi there' } }))
  expect(created.user).toBe(user)
  const sessionId = created.sessionId

  // exec: a shell string with the session's env, stdin, a pipe; then argv with a non-zero exit
  const shell = okOf<{ exitCode: number; stdout: string; stderr: string }>(await call(client, 'exec', {
    sessionId, cmd: 'echo "$GREETING $EXTRA $(id -u)"; cat | tr a-z A-Z; echo oops >&2', env: { EXTRA: 'and more' }, stdin: 'from stdin',
  }))
  expect(shell.exitCode).toBe(0)
  expect(shell.stdout).toMatch(/^hi there and more [1-9][0-9]*\nFROM STDIN$/)
  expect(shell.stderr).toBe('oops\n')
  const argv = okOf<{ exitCode: number; stderr: string }>(await call(client, 'exec', { sessionId, cmd: ['ls', '/no/such/dir'] }))
  expect(argv.exitCode).not.toBe(0)
  expect(argv.stderr).toContain('/no/such/dir')

  // write_file / read_file / list_files: text, then bytes that are not UTF-8
  expect(okOf(await call(client, 'write_file', { sessionId, path: 'notes/hello.txt', content: 'héllo\n' }))).toMatchObject({ size: 7 })
  expect(okOf(await call(client, 'read_file', { sessionId, path: 'notes/hello.txt' }))).toEqual({ path: 'notes/hello.txt', encoding: 'utf8', content: 'héllo\n', bytes: 7, truncated: false })
  const binary = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), randomBytes(64 * 1024)])
  expect(okOf(await call(client, 'write_file', { sessionId, path: 'notes/blob.bin', content: binary.toString('base64'), encoding: 'base64' }))).toMatchObject({ size: binary.length })
  const back = okOf<{ encoding: string; content: string }>(await call(client, 'read_file', { sessionId, path: 'notes/blob.bin' }))
  expect(back.encoding).toBe('base64')
  expect(Buffer.from(back.content, 'base64').equals(binary)).toBe(true)
  const listed = okOf<{ entries: Array<{ name: string; type: string; size: number }> }>(await call(client, 'list_files', { sessionId, path: 'notes' }))
  expect(listed.entries.map((e) => [e.name, e.type, e.size]).sort()).toEqual([['blob.bin', 'file', binary.length], ['hello.txt', 'file', 7]])
  const home = okOf<{ entries: Array<{ name: string; type: string }> }>(await call(client, 'list_files', { sessionId }))
  expect(home.entries).toContainEqual(expect.objectContaining({ name: 'notes', type: 'dir' }))
  // the command sees what write_file wrote
  expect(okOf<{ stdout: string }>(await call(client, 'exec', { sessionId, cmd: 'cat notes/hello.txt', cwd: '.' })).stdout).toBe('héllo\n')

  // errors an agent can act on
  expect(errorOf(await call(client, 'read_file', { sessionId, path: 'notes/missing.txt' }))).toMatch(/^file_not_found: .*list_files/)
  expect(errorOf(await call(client, 'read_file', { sessionId, path: 'notes' }))).toMatch(/^path_conflict: .*list_files a directory/)
  expect(errorOf(await call(client, 'exec', { sessionId: 'ses-doesnotexist', cmd: 'true' }))).toMatch(/^session_not_found: .*create_session/)
  expect(errorOf(await call(client, 'exec', { sessionId: '../../v1/pools', cmd: 'true' }))).toMatch(/not a session id.*create_session/)
  expect(errorOf(await call(client, 'write_file', { sessionId, path: 'x', content: 'not base64!', encoding: 'base64' }))).toMatch(/^validation_failed: content is not valid base64/)
  expect(errorOf(await call(client, 'exec', { sessionId, cmd: 'true', timeoutS: 99999 }))).toMatch(/timeoutS/)

  // end_session, then the ended session's error says to create a new one; ending again succeeds
  expect(okOf(await call(client, 'end_session', { sessionId }))).toEqual({ sessionId, ended: true })
  expect(errorOf(await call(client, 'exec', { sessionId, cmd: 'true' }))).toMatch(/^session_ended: .*has ended.*create_session/)
  expect(errorOf(await call(client, 'read_file', { sessionId, path: 'notes/hello.txt' }))).toMatch(/^session_ended: /)
  expect(okOf(await call(client, 'end_session', { sessionId }))).toEqual({ sessionId, ended: true })
}
