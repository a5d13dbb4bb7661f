// Names for the API's shapes, taken from the types generated from the gateway's /openapi.json
// (api-types.generated.ts) by route and status, so they follow the routes' schemas.
import type { paths } from './api-types.generated.ts'

type Json<Op, S extends number> = Op extends { responses: infer R }
  ? S extends keyof R ? (R[S] extends { content: { 'application/json': infer B } } ? B : never) : never
  : never
type BodyOf<Op> = Op extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never

type Session = paths['/v1/sessions/{id}']
type Exec = paths['/v1/sessions/{id}/exec']['post']
type Files = paths['/v1/sessions/{id}/files']

/** The JSON view of a session (GET /v1/sessions/{id}). */
export type SessionInfo = Json<Session['get'], 200>
/** What POST /v1/sessions answers: the view with a first attach. */
export type CreatedSessionInfo = Json<paths['/v1/sessions']['post'], 201>
/** The body of POST /v1/sessions. */
export type CreateSessionRequest = BodyOf<paths['/v1/sessions']['post']>
/** The body of POST /v1/sessions/{id}/keepalive: without `timeoutS` it only resets idleness. */
export type KeepaliveRequest = NonNullable<BodyOf<paths['/v1/sessions/{id}/keepalive']['post']>>
export type ListSessionsQuery = NonNullable<paths['/v1/sessions']['get']['parameters']['query']>
/** A page of GET /v1/sessions: `nextCursor` is there while more pages follow. */
export type SessionListPage = Json<paths['/v1/sessions']['get'], 200>
/** A terminal's WebSocket path and its attach token (POST /v1/sessions/{id}/attach). */
export type Attach = Json<paths['/v1/sessions/{id}/attach']['post'], 200>
export type PoolInfo = Json<paths['/v1/pools/{name}']['get'], 200>
/** A session's network policy, credential hosts and last denied attempts (GET /v1/sessions/{id}/network). */
export type SessionNetwork = Json<paths['/v1/sessions/{id}/network']['get'], 200>
/** An egress policy: `network` on create, and the body of PUT /v1/sessions/{id}/network. */
export type NetworkPolicy = BodyOf<paths['/v1/sessions/{id}/network']['put']>

/** The body of POST /v1/sessions/{id}/exec. */
export type ExecRequest = BodyOf<Exec>
/** A foreground command's end: its status or signal, and both streams (at most 16 MiB each). */
export type ExecResult = Json<Exec, 200>
/** How a command ended: the stream's `exit` event. */
export type ExecExit = Omit<ExecResult, 'stdout' | 'stderr'>
/** A background command: 202 from exec with `background: true`. */
export type SpawnedProcess = Json<Exec, 202>
export type ProcessInfo = Json<paths['/v1/sessions/{id}/processes']['get'], 200>[number]
export type ExecSignal = BodyOf<paths['/v1/sessions/{id}/processes/{processId}/signal']['post']>['signal']
export type StdinResult = Json<paths['/v1/sessions/{id}/processes/{processId}/stdin']['post'], 200>
/** A directory's listing (GET .../files of a directory). */
export type DirListing = Json<Files['get'], 200>
export type DirEntry = DirListing['entries'][number]
/** PUT .../files: the path as resolved in the sandbox and the bytes written. */
export type WrittenFile = Json<Files['put'], 201>

/** A scoped API key as GET /v1/keys lists it (never its secret). */
export type KeyInfo = Json<paths['/v1/keys']['get'], 200>['keys'][number]
/** The body of POST /v1/keys. */
export type CreateKeyRequest = BodyOf<paths['/v1/keys']['post']>
/** A key's id, name and secret: the secret is in this answer only (create, rotate). */
export type KeySecret = Json<paths['/v1/keys']['post'], 201>

export type AuditQuery = NonNullable<paths['/v1/audit']['get']['parameters']['query']>
/** A page of the audit log, oldest first: `nextCursor` is there while more pages follow. */
export type AuditPage = Json<paths['/v1/audit']['get'], 200>
export type AuditEntry = AuditPage['entries'][number]

/** What the dashboard draws (GET /v1/stats), as the caller's key may see it. */
export type Stats = Json<paths['/v1/stats']['get'], 200>
/** One event of GET /v1/events (each event's `data`), and a webhook delivery's body. */
export type LabEvent = paths['/v1/events']['get']['responses'][200]['content']['text/event-stream']
export type LabEventType = LabEvent['type']
/** The body of POST /v1/webhooks. */
export type CreateWebhookRequest = BodyOf<paths['/v1/webhooks']['post']>
/** What POST /v1/webhooks answers: the only time the secret is shown. */
export type CreatedWebhook = Json<paths['/v1/webhooks']['post'], 201>
/** A webhook with its last attempt and pending deliveries (GET /v1/webhooks). */
export type WebhookInfo = Json<paths['/v1/webhooks']['get'], 200>['webhooks'][number]
