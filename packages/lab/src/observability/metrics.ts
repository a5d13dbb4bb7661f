import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** Buckets in seconds, from sub-millisecond claims to minute-long cold starts. */
const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60]

/**
 * Every metric the gateway exports (names fixed by ARCHITECTURE.md). Label values come from
 * closed sets: pool names (validated), driver names, states, results, failure reasons.
 */
export class LabMetrics {
  readonly registry = new Registry()
  readonly poolSandboxes = new Gauge({ name: 'lab_pool_sandboxes', help: 'Sandboxes the pool owns, by state (ready|starting|cold_starting|claimed|destroying); they add up to what runs on the host', labelNames: ['pool', 'state'] as const, registers: [this.registry] })
  readonly poolTarget = new Gauge({ name: 'lab_pool_target', help: 'Warm target the pool policy decided', labelNames: ['pool'] as const, registers: [this.registry] })
  readonly claims = new Counter({ name: 'lab_claims_total', help: 'Session claims by result (warm|cold|rejected)', labelNames: ['pool', 'result'] as const, registers: [this.registry] })
  readonly claimDuration = new Histogram({ name: 'lab_claim_duration_seconds', help: 'Time to claim a sandbox for a session, by path (warm|cold)', labelNames: ['pool', 'path'] as const, buckets: LATENCY_BUCKETS_S, registers: [this.registry] })
  readonly sandboxStartDuration = new Histogram({ name: 'lab_sandbox_start_duration_seconds', help: 'Time from create to agent hello', labelNames: ['driver'] as const, buckets: LATENCY_BUCKETS_S, registers: [this.registry] })
  readonly sandboxFailures = new Counter({ name: 'lab_sandbox_failures_total', help: 'Sandbox failures by driver and reason', labelNames: ['driver', 'reason'] as const, registers: [this.registry] })
  readonly egressDenied = new Counter({ name: 'lab_egress_denied_total', help: 'Connections and DNS questions the egress proxy denied, by pool', labelNames: ['pool'] as const, registers: [this.registry] })
  readonly sessionsActive = new Gauge({ name: 'lab_sessions_active', help: 'Sessions not yet ended', labelNames: ['pool'] as const, registers: [this.registry] })

  /** `replica`: this gateway's id, a label on every metric (replicas' series stay apart). */
  constructor(options: { defaultMetrics?: boolean; replica?: string } = {}) {
    if (options.replica !== undefined) this.registry.setDefaultLabels({ replica: options.replica })
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry })
  }
}
