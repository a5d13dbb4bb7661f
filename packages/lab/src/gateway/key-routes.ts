import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { Clock } from '../clock/clock.ts'
import { POOL_NAME_RE } from '../spec/pool-spec.ts'
import { userPatternSchema } from '../spec/key-scope.ts'
import type { KeyRecord, Store } from '../store/types.ts'
import { newSecretToken, sha256Hex } from './auth.ts'
import { ApiError } from './errors.ts'
import { newId } from './ids.ts'
import { principalOf } from './principal.ts'
import type { ZodTypeProvider } from './route-schema.ts'
import { requireJsonBody } from './schemas.ts'

/** Names the audit log uses for the gateway's own key and its own actions: no scoped key may take them. */
const RESERVED_KEY_NAMES = new Set(['admin', 'system'])

export const createKeyBody = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'is 1-64 of A-Z a-z 0-9 . _ -').refine((n) => !RESERVED_KEY_NAMES.has(n), 'is reserved'),
  users: z.array(userPatternSchema).min(1).max(100).optional().describe('user patterns (at most one `*` each, e.g. `team-a-*`); omitted: every user'),
  pools: z.array(z.string().regex(POOL_NAME_RE, 'is not a pool name')).min(1).max(100).optional().describe('pool names; omitted: every pool'),
  maxSessions: z.number().int().min(1).max(100_000).optional().describe('sessions not ended this key may have at once'),
  createsPerMin: z.number().int().min(1).max(100_000).optional().describe('creates a minute (a token bucket, as deep as the rate)'),
  expiresAt: z.iso.datetime({ offset: true }).optional().describe('ISO 8601; the key is refused from then on'),
}).strict()

export const keyIdParams = z.object({ id: z.string().regex(/^key-[a-z0-9]{1,64}$/, 'is not a key id') }).strict()

const keySchema = z.object({
  id: z.string(),
  name: z.string(),
  users: z.array(z.string()).optional(),
  pools: z.array(z.string()).optional(),
  maxSessions: z.number().optional(),
  createsPerMin: z.number().optional(),
  expiresAt: z.string().optional(),
  createdAt: z.string(),
  revokedAt: z.string().optional(),
  rotatedAt: z.string().optional(),
  openSessions: z.number().describe('sessions not ended that this key created (what maxSessions counts)'),
})
const keySecretSchema = z.object({ id: z.string(), name: z.string(), key: z.string().describe('the secret: shown this once, only its hash is kept') })

function iso(ms: number | null): string | undefined {
  return ms === null ? undefined : new Date(ms).toISOString()
}

function keyView(k: KeyRecord, openSessions: number): z.input<typeof keySchema> {
  const v: Record<string, unknown> = {
    id: k.id, name: k.name, users: k.users ?? undefined, pools: k.pools ?? undefined, maxSessions: k.maxSessions ?? undefined,
    createsPerMin: k.createsPerMin ?? undefined, expiresAt: iso(k.expiresAt), createdAt: iso(k.createdAt), revokedAt: iso(k.revokedAt),
    rotatedAt: iso(k.rotatedAt), openSessions,
  }
  for (const f of Object.keys(v)) if (v[f] === undefined) delete v[f]
  return v as z.input<typeof keySchema>
}

/** A new secret: recognisable in a leak scan by its prefix. */
function newKeySecret(): string {
  return `ilk_${newSecretToken(32)}`
}

/** Scoped API keys (admin only): create, list, revoke, rotate. Every change is audited. */
export function registerKeyRoutes(scope: FastifyInstance, deps: { readonly store: Store; readonly clock: Clock }): void {
  const v1 = scope.withTypeProvider<ZodTypeProvider>()
  const { store, clock } = deps
  const admin = { auth: 'admin' } as const

  v1.post('/keys', {
    config: admin,
    schema: {
      summary: 'Create a scoped key (admin only): the secret is in this answer only', body: createKeyBody,
      responses: { 201: { description: 'Created', schema: keySecretSchema } }, errors: ['forbidden', 'invalid_json', 'body_too_large', 'unsupported_media_type'],
    },
    preValidation: async (req) => requireJsonBody(req),
  }, async (req, reply) => {
    const b = req.body
    const now = clock.now()
    const expiresAt = b.expiresAt === undefined ? null : Date.parse(b.expiresAt)
    if (expiresAt !== null && expiresAt <= now) throw new ApiError('validation_failed', 'invalid body: expiresAt: is in the past', [{ field: 'expiresAt', message: 'is in the past' }])
    const id = newId('key')
    const secret = newKeySecret()
    await store.insertKey({
      id, name: b.name, secretHash: sha256Hex(secret), users: b.users ?? null, pools: b.pools ?? null,
      maxSessions: b.maxSessions ?? null, createsPerMin: b.createsPerMin ?? null, expiresAt, createdAt: now,
    })
    const caller = principalOf(req)
    await store.appendAudit({ at: now, actor: caller.name, keyId: caller.keyId, action: 'key.create', target: id, details: { name: b.name, users: b.users ?? null, pools: b.pools ?? null } })
    return reply.code(201).send({ id, name: b.name, key: secret })
  })

  v1.get('/keys', {
    config: admin,
    schema: { summary: 'List scoped keys with their open sessions (admin only); secrets are never shown', responses: { 200: { description: 'OK', schema: z.object({ keys: z.array(keySchema) }) } }, errors: ['forbidden'] },
  }, async () => {
    const keys = await store.listKeys()
    return { keys: await Promise.all(keys.map(async (k) => keyView(k, await store.countOpenSessions({ keyId: k.id })))) }
  })

  v1.delete('/keys/:id', {
    config: admin,
    schema: {
      summary: "Revoke a key (admin only): it is refused from now on; its sessions keep running (end them with DELETE /v1/sessions/{id})",
      params: keyIdParams, responses: { 204: { description: 'Revoked (also when it already was)' } }, errors: ['forbidden', 'key_not_found'],
    },
  }, async (req, reply) => {
    const { id } = req.params
    const key = await store.getKey(id)
    if (!key) throw new ApiError('key_not_found', `no key with id ${id}`)
    if (key.revokedAt === null) {
      await store.revokeKey(id, clock.now())
      const caller = principalOf(req)
      await store.appendAudit({ at: clock.now(), actor: caller.name, keyId: caller.keyId, action: 'key.revoke', target: id, details: { name: key.name } })
    }
    return reply.code(204).send()
  })

  v1.post('/keys/:id/rotate', {
    config: admin,
    schema: {
      summary: 'Give a key a new secret (admin only): the old one is refused at once; scope, quotas and sessions stay',
      params: keyIdParams, responses: { 200: { description: 'The new secret, shown this once', schema: keySecretSchema } }, errors: ['forbidden', 'key_not_found'],
    },
  }, async (req) => {
    const { id } = req.params
    const secret = newKeySecret()
    const key = await store.getKey(id)
    if (!key || !(await store.rotateKey(id, sha256Hex(secret), clock.now()))) {
      throw new ApiError('key_not_found', key ? `key ${id} was revoked: create a new one` : `no key with id ${id}`)
    }
    const caller = principalOf(req)
    await store.appendAudit({ at: clock.now(), actor: caller.name, keyId: caller.keyId, action: 'key.rotate', target: id, details: { name: key.name } })
    return { id, name: key.name, key: secret }
  })
}
