import type { DriverName } from './pool-spec.ts'

/** A running sandbox as the driver knows it; serialisable (stored in the database). */
export interface SandboxHandle {
  readonly id: string
  readonly pool: string
  readonly driver: DriverName
  /** Epoch milliseconds when the create started. */
  readonly createdAt: number
  /** How the gateway reaches the agent. */
  readonly address: { readonly kind: 'unix'; readonly path: string } | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  /** Driver-specific details (pids, container ids, task ARNs). */
  readonly meta: Readonly<Record<string, string | number | boolean>>
  /** Time from create to hello, in milliseconds (set by create). */
  readonly startMs?: number
}
