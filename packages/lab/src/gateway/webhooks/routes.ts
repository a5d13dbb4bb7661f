import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { Clock } from '../../clock/clock.ts'
import { EVENT_TYPES, type Store, type WebhookSummary } from '../../store/types.ts'
import { ApiError } from '../errors.ts'
import { newId } from '../ids.ts'
import { principalOf } from '../principal.ts'
import type { ZodTypeProvider } from '../route-schema.ts'
import { requireJsonBody } from '../schemas.ts'
import { newWebhookSecret } from './signature.ts'
import { MAX_WEBHOOK_URL_CHARS, WebhookTargetRefused, resolveWebhookTarget, webhookUrlProblem, type Lookup } from './target.ts'

/** Webhooks a gateway keeps: each costs a delivery row per event it wants. */
export const MAX_WEBHOOKS = 100

export const createWebhookBody = z.object({
  url: z.string().max(MAX_WEBHOOK_URL_CHARS).superRefine((u, ctx) => {
    const problem = webhookUrlProblem(u)
    if (problem) ctx.addIssue({ code: 'custom', message: problem })
  }).describe('http or https; its host must not resolve to a loopback, private or link-local address unless the gateway allows it (--allow-private-webhooks)'),
  events: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length).describe('the event types to deliver'),
}).strict()

export const webhookIdParams = z.object({ id: z.string().regex(/^wh-[a-z0-9]{1,64}$/, 'is not a webhook id') }).strict()

const createdWebhookSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.enum(EVENT_TYPES)),
  secret: z.string().describe('`whsec_…`: signs every delivery; shown in this answer only'),
  createdAt: z.string(),
})
const webhookSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.enum(EVENT_TYPES)),
  createdAt: z.string(),
  createdBy: z.string().describe('the name of the key that created it'),
  lastAttemptAt: z.string().optional(),
  lastStatus: z.number().optional().describe('the HTTP status of the last attempt; absent when it got no answer'),
  lastError: z.string().optional().describe('why the last attempt failed'),
  pending: z.number().describe('deliveries waiting for their next attempt'),
})

function webhookView(w: WebhookSummary): z.input<typeof webhookSchema> {
  return {
    id: w.id, url: w.url, events: [...w.events], createdAt: new Date(w.createdAt).toISOString(), createdBy: w.createdBy,
    ...(w.lastAttemptAt !== null ? { lastAttemptAt: new Date(w.lastAttemptAt).toISOString() } : {}),
    ...(w.lastStatus !== null ? { lastStatus: w.lastStatus } : {}),
    ...(w.lastError !== null ? { lastError: w.lastError } : {}),
    pending: w.pending,
  }
}

export interface WebhookRouteDeps {
  readonly store: Store
  readonly clock: Clock
  /** Seals a new secret for the store, bound to the webhook's id. */
  readonly sealSecret: (secret: string, webhookId: string) => string
  readonly lookup: Lookup
  readonly allowPrivate: boolean
  /** Told after a webhook was created or deleted (the delivery worker looks again at once). */
  readonly changed?: () => void
}

/** Webhooks (admin only): create, list, delete. Creates and deletes are audited. */
export function registerWebhookRoutes(scope: FastifyInstance, deps: WebhookRouteDeps): void {
  const v1 = scope.withTypeProvider<ZodTypeProvider>()
  const admin = { auth: 'admin' } as const

  v1.post('/webhooks', {
    config: admin,
    schema: {
      summary: 'Create a webhook (admin only): events of the listed types are POSTed to the URL, signed; the secret is in this answer only',
      body: createWebhookBody, responses: { 201: { description: 'Created', schema: createdWebhookSchema } },
      errors: ['forbidden', 'invalid_json', 'body_too_large', 'unsupported_media_type', 'quota_exceeded'],
    },
    preValidation: async (req) => requireJsonBody(req),
  }, async (req, reply) => {
    const { url, events } = req.body
    try {
      await resolveWebhookTarget(new URL(url), deps)
    } catch (err) {
      if (!(err instanceof WebhookTargetRefused)) throw err
      throw new ApiError('validation_failed', `invalid body: url: ${err.message}`, [{ field: 'url', message: err.message }])
    }
    if ((await deps.store.listWebhooks()).length >= MAX_WEBHOOKS) {
      throw new ApiError('quota_exceeded', `at most ${MAX_WEBHOOKS} webhooks: delete one`, [{ field: 'url', message: 'too many webhooks', limit: 'webhooks', value: MAX_WEBHOOKS }])
    }
    const id = newId('wh')
    const secret = newWebhookSecret()
    const now = deps.clock.now()
    const caller = principalOf(req)
    const unique = [...new Set(events)]
    await deps.store.insertWebhook({ id, url, events: unique, sealedSecret: deps.sealSecret(secret, id), createdAt: now, createdBy: caller.name })
    await deps.store.appendAudit({ at: now, actor: caller.name, keyId: caller.keyId, action: 'webhook.create', target: id, details: { url, events: unique } })
    deps.changed?.()
    return reply.code(201).send({ id, url, events: unique, secret, createdAt: new Date(now).toISOString() })
  })

  v1.get('/webhooks', {
    config: admin,
    schema: {
      summary: 'List webhooks with their last attempt and pending deliveries (admin only); secrets are never shown',
      responses: { 200: { description: 'OK', schema: z.object({ webhooks: z.array(webhookSchema) }) } }, errors: ['forbidden'],
    },
  }, async () => ({ webhooks: (await deps.store.listWebhooks()).map(webhookView) }))

  v1.delete('/webhooks/:id', {
    config: admin,
    schema: {
      summary: 'Delete a webhook and its pending deliveries (admin only)', params: webhookIdParams,
      responses: { 204: { description: 'Deleted' } }, errors: ['forbidden', 'webhook_not_found'],
    },
  }, async (req, reply) => {
    const { id } = req.params
    if (!(await deps.store.deleteWebhook(id))) throw new ApiError('webhook_not_found', `no webhook with id ${id}`)
    const caller = principalOf(req)
    await deps.store.appendAudit({ at: deps.clock.now(), actor: caller.name, keyId: caller.keyId, action: 'webhook.delete', target: id, details: {} })
    deps.changed?.()
    return reply.code(204).send()
  })
}
