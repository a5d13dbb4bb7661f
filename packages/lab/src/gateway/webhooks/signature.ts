import { createHmac } from 'node:crypto'
import { newSecretToken } from '../auth.ts'

/** A webhook's signing secret: shown once, recognisable in a leak scan by its prefix. */
export function newWebhookSecret(): string {
  return `whsec_${newSecretToken(32)}`
}

/**
 * `X-Infra-Lab-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (Stripe's
 * scheme). The time inside the signed text lets a receiver refuse an old delivery replayed.
 */
export function signatureHeader(secret: string, body: string, unixS: number): string {
  const mac = createHmac('sha256', secret).update(`${unixS}.${body}`).digest('hex')
  return `t=${unixS},v1=${mac}`
}
