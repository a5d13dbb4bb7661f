// Names for the API's shapes, taken from the types generated from the gateway's /openapi.json
// (api-types.generated.ts) by route, so they follow the routes whatever the schemas are called.
import type { paths } from './api-types.generated.ts'

type JsonOf<R> = R extends { content: { 'application/json': infer B } } ? B : unknown
type Ok<Op> = Op extends { responses: infer R } ? JsonOf<R[Extract<keyof R, 200 | 201 | 202>]> : never
type BodyOf<Op> = Op extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never

/** The JSON view of a session (GET /v1/sessions/{id}). */
export type SessionInfo = Ok<paths['/v1/sessions/{id}']['get']>
/** What POST /v1/sessions answers: the view with a first attach. */
export type CreatedSessionInfo = Ok<paths['/v1/sessions']['post']>
/** The body of POST /v1/sessions. */
export type CreateSessionRequest = BodyOf<paths['/v1/sessions']['post']>
export type ListSessionsQuery = NonNullable<paths['/v1/sessions']['get']['parameters']['query']>
/** A terminal's WebSocket path and its attach token (POST /v1/sessions/{id}/attach). */
export type Attach = Ok<paths['/v1/sessions/{id}/attach']['post']>
export type PoolInfo = Ok<paths['/v1/pools/{name}']['get']>
