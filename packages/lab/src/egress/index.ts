/** The egress proxy's public API: the gateway binds sessions to it; nothing else reaches inside. */
export { EgressProxy, MAX_CLIENT_CONNECTIONS, type EgressProxyOptions, type ListeningPorts, type SessionBinding } from './proxy.ts'
export { compilePolicy, type CompiledPolicy, type CompileOptions, type DenyReason, type Verdict } from './policy.ts'
export { hostAddresses, isAlwaysDenied, normalizeAddress } from './addresses.ts'
export { hostsResolver, systemResolver, type Resolver } from './resolver.ts'
export { CA_CERT_FILE, CA_KEY_FILE, loadOrCreateCa, type EgressCa, type Leaf } from './ca.ts'
export { createSealer, loadOrCreateKey, SEAL_KEY_BYTES, type Sealer } from './sealed.ts'
export { DENIED_LOG_SIZE, type DeniedEntry, type SessionLimits, type Via } from './session.ts'
export type { OriginalDst, OriginalDstFn } from './transparent.ts'
