import type { FastifySchemaCompiler, FastifyTypeProvider } from 'fastify'
import type { z } from 'zod'
import type { ErrorCode } from './errors.ts'
import { validationError, type ValidatedPart } from './schemas.ts'

/**
 * A route's `schema` is its contract: fastify validates requests with its zod schemas (below),
 * and /openapi.json is generated from the same fields (openapi.ts). The keys besides fastify's
 * own describe what the validator cannot see: responses, streamed bodies, errors.
 */
declare module 'fastify' {
  interface FastifySchema {
    summary?: string
    description?: string
    /** Responses by status; a route without it documents `200 OK`. */
    responses?: Readonly<Record<number, RouteResponse>>
    /** Catalogue codes the route may answer, besides `validation_failed` and `unauthorized`, which are implied. */
    errors?: readonly ErrorCode[]
    /** The request body's media type when it is not JSON: streamed to the handler, never parsed. */
    consumes?: 'application/octet-stream'
  }
}

export interface RouteResponse {
  readonly description: string
  /** A JSON body; with `media: 'text/event-stream'`, the JSON `data` of each event. */
  readonly schema?: z.ZodType
  /** A body that is not JSON (a file's bytes, an SSE stream). */
  readonly media?: 'application/octet-stream' | 'text/event-stream' | 'text/plain'
}

/** Types `req.body`, `req.query`, `req.params` and `req.headers` from the route's zod schemas. */
export interface ZodTypeProvider extends FastifyTypeProvider {
  validator: this['schema'] extends z.ZodType ? z.output<this['schema']> : unknown
  serializer: this['schema'] extends z.ZodType ? z.input<this['schema']> : unknown
}

const PART: Readonly<Record<string, ValidatedPart>> = { body: 'body', querystring: 'query', params: 'params', headers: 'headers' }

/**
 * Validates one part of a request with the route's zod schema and hands the handler the parsed
 * value. A failure is the API's `400 validation_failed`, naming every bad field.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  const where = PART[httpPart ?? 'body'] ?? 'body'
  return (data: unknown) => {
    // fastify passes null for a missing part; a missing JSON body stays missing so `required` says so
    const r = schema.safeParse(where === 'body' ? data ?? undefined : data ?? {})
    return r.success ? { value: r.data } : { error: validationError(r.error.issues, where) }
  }
}

/** Replies are plain JSON.stringify: the route schemas describe them, they do not reshape them. */
export const jsonSerializerCompiler = () => (data: unknown): string => JSON.stringify(data)
