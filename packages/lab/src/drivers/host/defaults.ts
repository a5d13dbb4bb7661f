/** Host uid and gid every sandbox runs as by default (uid 1000 inside): it owns nothing else. */
export const DEFAULT_SANDBOX_HOST_UID = 100_000
export const DEFAULT_MAX_OPEN_FILES = 4096
/** V8 flags of the agent: a small heap keeps idle sandboxes cheap. */
export const DEFAULT_NODE_FLAGS: readonly string[] = ['--max-old-space-size=64', '--max-semi-space-size=2']
