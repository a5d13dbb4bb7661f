import type { Claim } from '@infra-lab/protocol'

/** Quotes a value for bash as one single-quoted word; newlines, `$`, `\` and quotes stay literal. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`
}

/**
 * The bash script that turns the generic warm shell into the user's shell. Builtins only (no
 * process is created), read from a FIFO by the rc file, so it is neither echoed on the terminal
 * nor recorded in history. It always runs in the user's own shell: the warm shell when that is
 * unprivileged, else the shell the root warm shell dropped to (pty-session.ts). Names are
 * validated by the claim schema (ENV_NAME_RE, no reserved names).
 */
export function buildClaimScript(claim: Pick<Claim, 'sessionId' | 'user' | 'home' | 'env' | 'secrets'>, unsetNames: readonly string[] = []): string {
  const lines: string[] = []
  const exportAll = (vars: Record<string, string>) => {
    for (const [name, value] of Object.entries(vars)) lines.push(`export ${name}=${shellQuote(value)}`)
  }
  exportAll(claim.env)
  exportAll(claim.secrets)
  lines.push(
    `export HOME=${shellQuote(claim.home)} USER=${shellQuote(claim.user)} LOGNAME=${shellQuote(claim.user)}` +
      ` INFRA_LAB_SESSION_ID=${shellQuote(claim.sessionId)}`,
    `HISTFILE="$HOME/.bash_history"`,
    `cd -- "$HOME"`,
    `unset OLDPWD${unsetNames.map((n) => ` ${n}`).join('')}`,
    // \$ and \w are prompt escapes; $USER expands when the prompt is shown. No \u: uid 1000
    // has no passwd entry.
    `PS1='$USER@sandbox:\\w\\$ '`,
    `if [ -r "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi`,
  )
  return `${lines.join('\n')}\n`
}
