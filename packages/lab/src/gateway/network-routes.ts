import type { FastifyInstance } from 'fastify'
import type { Clock } from '../clock/clock.ts'
import { networkPolicySchema } from '../spec/network-policy.ts'
import type { Store } from '../store/types.ts'
import { principalOf } from './principal.ts'
import type { ZodTypeProvider } from './route-schema.ts'
import { requireJsonBody, sessionIdParams, sessionNetworkSchema } from './schemas.ts'
import type { SessionNetworks } from './session-network.ts'
import type { SessionService } from './sessions.ts'

export interface NetworkRouteDeps {
  readonly sessions: SessionService
  readonly networks: SessionNetworks
  readonly store: Pick<Store, 'appendAudit'>
  readonly clock: Clock
}

/** A running session's egress policy: shown with its last denied attempts, and replaced in place. */
export function registerNetworkRoutes(scope: FastifyInstance, deps: NetworkRouteDeps): void {
  const v1 = scope.withTypeProvider<ZodTypeProvider>()
  v1.get('/sessions/:id/network', {
    schema: {
      summary: "The session's network policy, its credentials' hosts and header names (never values), and its last 100 denied attempts",
      params: sessionIdParams, responses: { 200: { description: 'OK', schema: sessionNetworkSchema } }, errors: ['session_not_found'],
    },
  }, async (req) => deps.networks.show(await deps.sessions.get(req.params.id)))

  v1.put('/sessions/:id/network', {
    schema: {
      summary: 'Replace the network policy of a running session: new connections follow it at once, open ones it no longer allows are closed',
      params: sessionIdParams, body: networkPolicySchema,
      responses: { 200: { description: 'The policy now in force', schema: sessionNetworkSchema } },
      errors: ['session_not_found', 'session_ended', 'network_unavailable', 'invalid_json', 'body_too_large', 'unsupported_media_type'],
    },
    preValidation: async (req) => requireJsonBody(req),
  }, async (req) => {
    const session = await deps.sessions.get(req.params.id)
    await deps.networks.replace(session, deps.sessions.poolSpec(session.pool), req.body)
    const caller = principalOf(req)
    await deps.store.appendAudit({
      at: deps.clock.now(), actor: caller.name, keyId: caller.keyId, action: 'session.network', target: session.id,
      details: { ...req.body },
    })
    return deps.networks.show(await deps.sessions.get(req.params.id))
  })
}
