import { isSharedMount, mountsUnder, readMountInfo, unmountAll, type MountAddon } from './mounts.ts'
import { readdirIfExists, rmdirIfExists } from './fs-util.ts'
import type { RuntimeLayout } from './layout.ts'

/**
 * Makes `slots/` a shared mount of its own, so a workspace bound below it at claim time
 * propagates into the sandbox that sees its slot (bwrap bind or Docker `rslave`).
 */
export function ensureSharedSlots(addon: MountAddon, slotsDir: string): void {
  const mounts = readMountInfo()
  if (isSharedMount(mounts, slotsDir)) return
  if (!mounts.some((m) => m.mountPoint === slotsDir)) addon.bind(slotsDir, slotsDir)
  addon.makePrivate(slotsDir) // leave any peer group inherited from the parent mount
  addon.makeShared(slotsDir)
}

/** Unbinds a sandbox's workspace and removes its slot. rmdir, never rm -r: a still-mounted workspace would be erased. */
export async function removeSlot(addon: MountAddon, layout: RuntimeLayout, id: string): Promise<void> {
  unmountAll(addon, layout.homeDir(id))
  await rmdirIfExists(layout.homeDir(id))
  await rmdirIfExists(layout.slotDir(id))
}

/** Teardown: every slot, then the shared slots mount; throws if any mount is left under the root. */
export async function removeAllSlots(addon: MountAddon, layout: RuntimeLayout): Promise<void> {
  for (const id of await readdirIfExists(layout.slotsDir)) await removeSlot(addon, layout, id)
  unmountAll(addon, layout.slotsDir)
  const left = mountsUnder(readMountInfo(), layout.root)
  if (left.length > 0) throw new Error(`mounts remain under ${layout.root} (${left[0]!.mountPoint}); not removing it`)
}
