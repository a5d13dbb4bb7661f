/**
 * How long the agent has to apply a claim once it was sent; the claim's creator ends the session
 * as claim_failed when it does not. (Its whole life in `starting` is bounded by this plus the
 * pool's claimTimeoutMs and the connect and bind steps between; see abandoned-claims.ts.)
 */
export const CLAIM_AGENT_TIMEOUT_MS = 5000
