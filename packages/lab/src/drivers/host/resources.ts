/** Bounds on what a sandbox may consume beyond the pool's cgroup limits (local and Docker alike). */

/** Disk one user's workspace may fill (an ext4 image per user); 0 turns quotas off. */
export const DEFAULT_WORKSPACE_QUOTA_BYTES = 1024 ** 3
/** Below this an ext4 image is mostly its own metadata and journal. */
export const MIN_WORKSPACE_QUOTA_BYTES = 16 * 1024 ** 2
/** The sandbox's /tmp, which also holds the agent's state (/tmp/.agent): a tmpfs, so it is memory. */
export const DEFAULT_TMP_SIZE_BYTES = 256 * 1024 ** 2
export const DEFAULT_SHM_SIZE_BYTES = 64 * 1024 ** 2
/**
 * oom_score_adj of the agent, set before it starts (local: by the root wrapper; Docker: by
 * runc). The agent raises its shell to 1000, so the OOM killer takes the user's processes
 * before the agent whatever their sizes; an unprivileged process may lower its score only down
 * to oom_score_adj_min, which a root write with CAP_SYS_RESOURCE sets to this value, so a user
 * can bring their processes at most level with the agent, where the larger process is chosen.
 * Not negative: lowering needs CAP_SYS_RESOURCE, which some hosts' root lacks (runc then fails
 * to start the container at all), and the user's +1000 already orders the two.
 */
export const AGENT_OOM_SCORE_ADJ = 0

const MIN_TMPFS_BYTES = 1024 ** 2

/** What is wrong with size options (bytes), for a driver's option check. Pure. */
export function sizeErrors(s: { readonly workspaceQuotaBytes: number; readonly tmpSizeBytes?: number; readonly shmSizeBytes?: number }): string[] {
  const errors: string[] = []
  const q = s.workspaceQuotaBytes
  if (!Number.isSafeInteger(q) || (q !== 0 && q < MIN_WORKSPACE_QUOTA_BYTES)) errors.push(`workspaceQuotaBytes must be 0 (no quota) or an integer of at least ${MIN_WORKSPACE_QUOTA_BYTES}`)
  for (const [k, v] of [['tmpSizeBytes', s.tmpSizeBytes], ['shmSizeBytes', s.shmSizeBytes]] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < MIN_TMPFS_BYTES)) errors.push(`${k} must be an integer of at least ${MIN_TMPFS_BYTES}`)
  }
  return errors
}
