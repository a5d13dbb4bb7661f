import type { Transport } from './http.ts'
import type { CreateKeyRequest, KeyInfo, KeySecret } from './types.ts'

type Opts = { readonly signal?: AbortSignal }

/**
 * Scoped API keys (the admin key only: a scoped key gets `ForbiddenError`). A key's secret is in
 * the answer of `create` and `rotate` only; the gateway keeps its hash.
 */
export class Keys {
  /** @internal */
  constructor(private readonly t: Transport) {}

  /** A new key limited to `users` (patterns, one `*` each) and `pools`, with optional quotas and expiry. */
  create(req: CreateKeyRequest, opts: Opts = {}): Promise<KeySecret> {
    return this.t.json<KeySecret>('POST', '/v1/keys', { json: req, ...opts })
  }

  /** Every key, revoked ones too, with its open sessions. */
  async list(opts: Opts = {}): Promise<KeyInfo[]> {
    return (await this.t.json<{ keys: KeyInfo[] }>('GET', '/v1/keys', opts)).keys
  }

  /** Refuses the key from now on (no error if it already was); its sessions keep running. */
  async revoke(id: string, opts: Opts = {}): Promise<void> {
    await this.t.json<void>('DELETE', `/v1/keys/${encodeURIComponent(id)}`, opts)
  }

  /** A new secret for the key; the old one is refused at once. */
  rotate(id: string, opts: Opts = {}): Promise<KeySecret> {
    return this.t.json<KeySecret>('POST', `/v1/keys/${encodeURIComponent(id)}/rotate`, opts)
  }
}
