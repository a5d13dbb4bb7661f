import { AgentOpError, type AgentOpErrorCode } from '../drivers/agent-ops.ts'
import { ApiError, type ErrorCode } from './errors.ts'

/** Each agent error code as an API error code; `not_claimed` and `internal` are decided by the caller's context. */
const AGENT_TO_API: Readonly<Record<Exclude<AgentOpErrorCode, 'not_claimed' | 'internal'>, ErrorCode>> = {
  file_not_found: 'file_not_found',
  permission_denied: 'permission_denied',
  insufficient_storage: 'insufficient_storage',
  invalid_path: 'path_conflict',
  process_not_found: 'process_not_found',
  exec_failed: 'exec_failed',
  too_many_processes: 'too_many_processes',
  too_large: 'upload_too_large',
}

/**
 * What an exec or file call that failed answers. The agent's own refusals map one to one; any
 * other failure (the channel closed, the agent has no session) is `session_ended` when the
 * session has ended meanwhile, and otherwise `session_unavailable`; the agent's `internal` is
 * passed on as it is, so the error handler logs it and answers `500 internal`.
 */
export async function toApiError(err: unknown, sessionEnded: () => Promise<boolean>): Promise<Error> {
  if (err instanceof ApiError) return err
  if (err instanceof AgentOpError && err.code !== 'not_claimed' && err.code !== 'internal') {
    const code = AGENT_TO_API[err.code]
    return new ApiError(code, err.message, undefined, code === 'too_many_processes' ? 1 : undefined)
  }
  if (await sessionEnded().catch(() => false)) return new ApiError('session_ended', 'the session ended')
  if (err instanceof AgentOpError) return err
  return new ApiError('session_unavailable', `lost the connection to the session's sandbox: ${err instanceof Error ? err.message : String(err)}`, undefined, 1)
}
