/** `--env NAME=VALUE` (repeatable) as a map; undefined for none, or the message for a bad one. */
export function parseEnvFlags(flags: readonly string[] | undefined): Record<string, string> | undefined | string {
  if (!flags?.length) return undefined
  const env: Record<string, string> = {}
  for (const kv of flags) {
    const i = kv.indexOf('=')
    if (i <= 0) return `--env expects NAME=VALUE, got "${kv}"`
    env[kv.slice(0, i)] = kv.slice(i + 1)
  }
  return env
}
