import { isAbsolute, resolve } from 'node:path'

/** What the agent keeps of the claim, in memory only, to run commands as the session's user. */
export interface ClaimContext {
  readonly sessionId: string
  readonly user: string
  /** The user's home inside the sandbox: relative paths and cwds start here. */
  readonly home: string
  readonly env: Readonly<Record<string, string>>
  readonly secrets: Readonly<Record<string, string>>
}

/**
 * An exec's environment, as the user's shell has it (claim-script.ts): the warm shell's
 * (`base`, pty-session.ts warmShellEnv), then the claim's env and secrets, the identity the
 * sandbox sets, and last the exec's own variables (validated: no reserved names).
 */
export function execEnv(base: Readonly<Record<string, string>>, claim: ClaimContext, own: Readonly<Record<string, string>>, cwd: string): Record<string, string> {
  return {
    ...base, ...claim.env, ...claim.secrets,
    HOME: claim.home, USER: claim.user, LOGNAME: claim.user, INFRA_LAB_SESSION_ID: claim.sessionId, PWD: cwd,
    ...own,
  }
}

/** A path of the API inside the sandbox: absolute, or relative to the user's home. */
export function sandboxPath(claim: ClaimContext, path: string): string {
  return isAbsolute(path) ? resolve(path) : resolve(claim.home, path)
}
