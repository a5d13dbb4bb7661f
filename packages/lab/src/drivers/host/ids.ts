/** Sandbox ids become paths, cgroup and container names: the same rule for every host driver. */
export const SANDBOX_ID_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/

export function isValidSandboxId(id: string): boolean {
  return SANDBOX_ID_RE.test(id)
}
